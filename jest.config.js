/** Two tiers: `unit` specs beside the code (pure, fast) and `integration` suites in test/
 *  that talk to the real Redis, PostgreSQL and loopback HTTP servers. */
const moduleNameMapper = {
  '^@aigw/(core|entities|adapters|platform|testing|routing|governance)$': '<rootDir>/libs/$1/src',
};
const transform = { '^.+\\.ts$': 'ts-jest' }; // transpile-only: tsconfig sets isolatedModules
// Nest and class-validator decorators need the metadata polyfill loaded before any module, as main.ts does.
const setupFiles = ['reflect-metadata'];
module.exports = {
  // Global option (ignored inside a project entry): integration suites boot real processes.
  testTimeout: 60000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/tools'],
      testMatch: ['**/*.spec.ts'],
      moduleNameMapper,
      transform,
      setupFiles,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      moduleNameMapper,
      transform,
      setupFiles,
    },
  ],
};
