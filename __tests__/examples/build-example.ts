/**
 * Installs and builds an example app (examples/react, examples/vue) the way its README says, for
 * the browser suites: `npm ci` when its node_modules is missing or older than its lock file, then
 * `vite build` into a temporary directory with the auth server's address in the Vite env.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = join(__dirname, '..', '..');

async function exec(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv) {
  try {
    await run(command, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`\`${command} ${args.join(' ')}\` failed in ${cwd}:\n${stdout}\n${stderr}`, {
      cause: error,
    });
  }
}

/** The examples consume the built package through its `exports`, so it must be built first. */
export function assertPackageBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'index.mjs'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does it in pretest)');
  }
}

export async function installExample(dir: string): Promise<void> {
  const marker = join(dir, 'node_modules', '.package-lock.json');
  const fresh =
    existsSync(marker) &&
    existsSync(join(dir, 'node_modules', 'vite', 'bin', 'vite.js')) &&
    statSync(marker).mtimeMs >= statSync(join(dir, 'package-lock.json')).mtimeMs;
  if (fresh) return;
  await exec('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], dir);
}

export async function buildExample(
  dir: string,
  outDir: string,
  env: Record<string, string>,
): Promise<void> {
  const vite = join(dir, 'node_modules', 'vite', 'bin', 'vite.js');
  await exec(
    process.execPath,
    [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'],
    dir,
    // Jest sets NODE_ENV=test, which would make Vite bundle React's and Vue's development builds.
    { ...env, NODE_ENV: 'production' },
  );
}
