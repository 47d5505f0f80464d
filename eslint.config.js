// ESLint with typescript-eslint's strict, type-checked rules over every TypeScript file we ship, test or bench.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', '.ci/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers (bigints with them) and booleans are what our messages and labels interpolate.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Under noUncheckedIndexedAccess a `!` marks an index the code has bounded (a loop over the array's own
      // length, a regex group that matched); one that is not needed is no-unnecessary-type-assertion's to find.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `() => resolve()` and `return next()` in a function that returns nothing say what they do in one line.
      // An async step with nothing to wait for still keeps the interface of steps that do.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // tap's t.test() returns a promise that tap itself awaits; its callbacks are async whether or not they await.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] }],
      // Tests walk parsed documents (the dashboard, the chart, OTLP bodies) whose shape is what they assert.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    // The live pages' scripts run in the browser: its globals, and nothing from Node.
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { document: 'readonly', location: 'readonly', fetch: 'readonly', EventSource: 'readonly', getComputedStyle: 'readonly', Node: 'readonly', Element: 'readonly' },
    },
  },
);
