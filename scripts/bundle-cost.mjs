// What the gate adds to an app's production bundle: builds examples/react (and examples/vue) with
// Vite in production mode, the package's modules in a chunk of their own, and prints the gzip
// size of each chunk. The gate's chunk is what an app pays for it, tree-shaken as the app uses it;
// a plain refresh interceptor costs its own few hundred bytes in the app's code instead.
//
//   npm run build && node scripts/bundle-cost.mjs [react|vue ...]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const apps = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['react', 'vue'];

// Our modules, axios and the framework each in a chunk of their own, and only them: a group does
// not take in what its modules import (the bindings import React or Vue).
const codeSplitting = {
  includeDependenciesRecursively: false,
  groups: [
    { name: 'axios-refresh-gate', test: (id) => id.startsWith(DIST), priority: 3 },
    { name: 'axios', test: /[\\/]node_modules[\\/]axios[\\/]/, priority: 2 },
    {
      name: 'framework',
      test: /[\\/]node_modules[\\/](react|react-dom|scheduler|vue|@vue)[\\/]/,
      priority: 1,
    },
  ],
};

for (const app of apps) {
  const dir = join(ROOT, 'examples', app);
  const { build } = await import(
    pathToFileURL(join(dir, 'node_modules', 'vite', 'dist', 'node', 'index.js'))
  );
  const outDir = mkdtempSync(join(tmpdir(), `bundle-${app}-`));
  try {
    process.env.NODE_ENV = 'production';
    await build({
      root: dir,
      configFile: join(dir, 'vite.config.ts'),
      logLevel: 'warn',
      build: {
        outDir,
        emptyOutDir: true,
        rolldownOptions: { output: { codeSplitting } },
      },
    });
    const assets = join(outDir, 'assets');
    const rows = readdirSync(assets)
      .filter((file) => file.endsWith('.js'))
      .map((file) => {
        const code = readFileSync(join(assets, file));
        return { file, bytes: code.length, gzip: gzipSync(code, { level: 9 }).length };
      })
      .sort((a, b) => b.gzip - a.gzip);
    const total = rows.reduce((sum, row) => sum + row.gzip, 0);
    console.log(`\nexamples/${app}, production build, gzip -9:`);
    for (const row of rows)
      console.log(
        `  ${row.file.padEnd(36)} ${String(row.bytes).padStart(8)} B  ${String(row.gzip).padStart(7)} B gzip`,
      );
    console.log(
      `  ${'all JavaScript'.padEnd(36)} ${''.padStart(8)}    ${String(total).padStart(7)} B gzip`,
    );
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
