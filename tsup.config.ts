import { defineConfig } from 'tsup';

/**
 * One entry per subpath export. The key is the file name under dist/ (CJS `<key>.js` +
 * `<key>.d.ts`, ESM `<key>.mjs` + `<key>.d.mts`, since the package is "type": "commonjs"), and
 * each one needs a matching block in package.json `exports` and in .size-limit.json.
 *
 * Subpaths still to come, added here once their source exists:
 *   browser: 'src/browser/index.ts',  // axios-refresh-gate/browser
 *   redis: 'src/redis/index.ts',      // axios-refresh-gate/redis (its client is an optional peer)
 *   server: 'src/server/index.ts',    // axios-refresh-gate/server
 */
const entry = {
  index: 'src/index.ts',
};

export default defineConfig({
  entry,
  format: ['cjs', 'esm'],
  // Emits index.d.ts next to the CJS build and index.d.mts next to the ESM build; the
  // `declare module 'axios'` augmentation (src/augment.ts) is carried into both.
  dts: {
    // tsup passes `baseUrl` to the declaration build, which TypeScript 6 deprecates.
    compilerOptions: { ignoreDeprecations: '6.0' },
  },
  target: 'es2022',
  platform: 'neutral',
  // Peer and optional peer dependencies stay imports; the core bundles nothing else.
  external: ['axios'],
  // No `splitting` for CJS: tsup's CJS splitting goes through sucrase, which rewrites `?.`, `??`
  // and class fields into helper calls on the hot path. ESM splits by default. Subpath entries
  // should import the core by the package's own name (and list it in `external`), so that every
  // entry shares the one RefreshGateError class instead of bundling a copy.
  treeshake: false,
  sourcemap: true,
  clean: true,
  minify: false,
  esbuildOptions(options) {
    // `import './augment.js'` only carries the axios type augmentation; its JS is empty, so
    // esbuild dropping it under "sideEffects": false is right, and its warning is noise.
    options.logOverride = { ...options.logOverride, 'ignored-bare-import': 'silent' };
  },
  outDir: 'dist',
});
