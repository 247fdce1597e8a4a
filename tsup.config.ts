import { defineConfig, type Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * Subpath entries import the core through its barrel ('../index.js') so that tsc and jest work on
 * the sources; in the build that import becomes the package itself, so every entry shares the one
 * core (and its RefreshGateError class) instead of bundling a copy.
 */
const coreByPackageName: EsbuildPlugin = {
  name: 'core-by-package-name',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/index\.js$/ }, (args) =>
      /[\\/]src[\\/](redis|server|browser|react|vue)[\\/]/.test(args.importer)
        ? { path: 'axios-refresh-gate', external: true }
        : undefined,
    );
  },
};

/**
 * One entry per subpath export. The key is the file name under dist/ (CJS `<key>.js` +
 * `<key>.d.ts`, ESM `<key>.mjs` + `<key>.d.mts`, since the package is "type": "commonjs"), and
 * each one needs a matching block in package.json `exports` and in .size-limit.json.
 */
const entry = {
  index: 'src/index.ts',
  browser: 'src/browser/index.ts',
  redis: 'src/redis/index.ts',
  server: 'src/server/index.ts',
  react: 'src/react/index.ts',
  vue: 'src/vue/index.ts',
};

export default defineConfig({
  entry,
  format: ['cjs', 'esm'],
  // Emits index.d.ts next to the CJS build and index.d.mts next to the ESM build; the
  // `declare module 'axios'` augmentation (in src/types.ts, a module) is carried into both.
  dts: {
    // tsup passes `baseUrl` to the declaration build, which TypeScript 6 deprecates.
    compilerOptions: { ignoreDeprecations: '6.0' },
  },
  target: 'es2022',
  platform: 'neutral',
  // Peer and optional peer dependencies (react and vue for their subpaths) stay imports; the core
  // bundles nothing else.
  external: ['axios', 'axios-refresh-gate', 'ioredis', 'react', 'vue', /^node:/],
  esbuildPlugins: [coreByPackageName],
  // No `splitting` for CJS: tsup's CJS splitting goes through sucrase, which rewrites `?.`, `??`
  // and class fields into helper calls on the hot path. ESM splits by default. Subpath entries
  // should import the core by the package's own name (and list it in `external`), so that every
  // entry shares the one RefreshGateError class instead of bundling a copy.
  treeshake: false,
  sourcemap: true,
  clean: true,
  minify: false,
  outDir: 'dist',
});
