/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        // Type checking is `npm run typecheck`'s job; here ts-jest only transpiles, file by file.
        tsconfig: {
          isolatedModules: true,
          module: 'commonjs',
          moduleResolution: 'node10',
          ignoreDeprecations: '6.0',
          verbatimModuleSyntax: false,
        },
      },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  collectCoverageFrom: ['src/**/*.ts'],
  coverageThreshold: {
    // The core: every behaviour rule lives here.
    './src/*.ts': { lines: 95, branches: 95 },
    // The adapters (browser, redis, server), whose remaining branches are mostly connection
    // failures of a real Redis; their behaviour is tested against real Chromium and redis-server.
    global: { lines: 95, branches: 85 },
  },
  coverageReporters: ['text-summary', 'text'],
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/scripts/summary-reporter.cjs'],
};
