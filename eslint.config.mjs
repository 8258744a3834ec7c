// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.mjs', '**/*.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      curly: 'error',
      eqeqeq: 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'swagger-ui-dist',
              message:
                "Its main entry point loads the browser bundle into the server (~10 MB of heap): import 'swagger-ui-dist/absolute-path.js'.",
            },
          ],
          patterns: [
            {
              group: ['@aigw/*/*', '**/libs/*/src/**', '../../libs/**'],
              message: 'Import a lib from its entry point (@aigw/<lib>).',
            },
          ],
        },
      ],
    },
  },
  {
    // The request path: on Node 20 (V8 11.3) an object literal that adds fields after a spread takes a slow path
    // (~2 µs for one field, ~70 µs for twenty; libs/core/src/objects.ts, docs/benchmarks.md "Object spread").
    files: [
      'apps/router-worker/src/**/*.ts',
      'apps/api-gateway/src/{generation,openai,anthropic,http,admission,auth,native,validation}/**/*.ts',
      'libs/core/src/routing/**/*.ts',
      'libs/adapters/src/**/*.ts',
    ],
    ignores: ['**/*.spec.ts', 'libs/adapters/src/probe/**', 'apps/router-worker/src/routing/attempt-fakes.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement ~ :matches(Property, SpreadElement)',
          message:
            'Fields after a spread are slow on Node 20: use merged(base, extra) from @aigw/core, or write the object out.',
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
);
