/**
 * `npm run demo`, as a new user runs it (fewer requests): the storm, the flaky network, the
 * wrong password and the real OpenID provider, each with the gate keeping what the naive client loses. Exit code 0.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

it('the demo runs its four rounds and the gate keeps the session in each', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/demo.ts', '--requests', '100'],
    { cwd: ROOT },
  );
  // The storm: one refresh, 100 of 100.
  expect(stdout).toMatch(/refresh calls\s+\|\s+100\s+\|\s+1\s+\|/);
  expect(stdout).toMatch(/requests succeeded\s+\|\s+\d+ \/ 100\s+\|\s+100 \/ 100\s+\|/);
  // The flaky network: the naive client logs out; the gate with its retries keeps all 20.
  expect(stdout).toMatch(/requests succeeded\s+\|\s+0 \/ 20\s+\|\s+0 \/ 20\s+\|\s+20 \/ 20\s+\|/);
  expect(stdout).toMatch(/user logged out\s+\|\s+yes\s+\|\s+no\s+\|\s+no\s+\|/);
  expect(stdout).toMatch(/session kept\s+\|\s+no\s+\|\s+yes\s+\|\s+yes\s+\|/);
  // The wrong password: the naive client refreshes and shows the refresh's 400.
  expect(stdout).toMatch(
    /the login form is told\s+\|\s+400 invalid_request\s+\|\s+401 invalid_credentials\s+\|/,
  );
  expect(stdout).toMatch(
    /refresh-failed handler ran\s+\|\s+yes \(logout, redirect\)\s+\|\s+no\s+\|/,
  );
  // The real OpenID provider: the naive storm revokes the grant, the gate's keeps it.
  expect(stdout).toMatch(/grant revoked\s+\|\s+yes \(refresh token reuse\)\s+\|\s+no\s+\|/);
  expect(stdout).toContain('One refresh at the provider; the grant lives on.');
  expect(stdout).not.toContain('Unexpected');
}, 120_000);
