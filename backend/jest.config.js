/** @type {import('jest').Config} */
const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: __dirname,
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      transform: tsJest,
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      transform: tsJest,
      // Some e2e tests spawn the compiled server (dist/main.js): build it first.
      globalSetup: '<rootDir>/test/global-setup.js',
    },
  ],
  // A global option (jest ignores it inside `projects`): e2e tests spawn the built server, which on a
  // loaded 2-core CI machine can take longer than jest's 5 s default to start.
  testTimeout: 30000,
};
