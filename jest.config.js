/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        // Jest runs CommonJS; the sources are ESM-syntax TypeScript. Type checking is done by
        // `npm run typecheck`, so ts-jest only transpiles here.
        isolatedModules: true,
        tsconfig: { module: 'commonjs', moduleResolution: 'node10', verbatimModuleSyntax: false },
      },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  collectCoverageFrom: ['src/**/*.ts'],
  coverageThreshold: { global: { lines: 95, branches: 95 } },
  coverageReporters: ['text-summary', 'text'],
  testTimeout: 30000,
};
