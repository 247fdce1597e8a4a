import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

it('the server-dedupe demo runs: naive clients against a deduping server all succeed', async () => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/demo-server-dedupe.ts', '--requests', '100'],
    { cwd: ROOT },
  );
  expect(stdout).toMatch(/requests succeeded\s+\|\s+\d+ \/ 100\s+\|\s+100 \/ 100/);
  expect(stdout).toMatch(/session revoked\s+\|\s+yes \(refresh token reuse\)\s+\|\s+no/);
  expect(stdout).toContain('every request succeeded');
}, 60_000);
