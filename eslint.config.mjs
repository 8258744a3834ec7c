// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** Imports no file may make: a lib's deep paths, and the Swagger UI bundle in the server. */
const BASE_RESTRICTED_PATHS = [
  {
    name: 'swagger-ui-dist',
    message:
      "Its main entry point loads the browser bundle into the server (~10 MB of heap): import 'swagger-ui-dist/absolute-path.js'.",
  },
];
const DEEP_LIB_IMPORT = {
  group: ['@aigw/*/*', '**/libs/*/src/**', '../../libs/**'],
  message: 'Import a lib from its entry point (@aigw/<lib>).',
};

/** `no-restricted-imports` with the base restrictions and `patterns` (a later block's options replace an earlier one's). */
function restrictedImports(patterns) {
  return ['error', { paths: BASE_RESTRICTED_PATHS, patterns: [DEEP_LIB_IMPORT, ...patterns] }];
}

/**
 * The direction of ARCHITECTURE.md §3: which libs each lib may import (none imports an app). A cycle would need an
 * edge against this order, so it also keeps the libs free of cycles.
 */
const LIB_IMPORTS = {
  core: [],
  testing: [],
  entities: ['core'],
  adapters: ['core'],
  routing: ['core'],
  governance: ['core', 'routing'],
  platform: ['core', 'entities', 'routing'],
};
const APPS = ['api-gateway', 'router-worker', 'health-monitor'];

function libBoundary(lib, allowed) {
  const others = Object.keys(LIB_IMPORTS).filter((l) => l !== lib && !allowed.includes(l));
  return {
    files: [`libs/${lib}/src/**/*.ts`],
    rules: {
      'no-restricted-imports': restrictedImports([
        ...(others.length === 0
          ? []
          : [
              {
                group: others.map((l) => `@aigw/${l}`),
                message: `libs/${lib} may import ${allowed.length === 0 ? 'nothing internal' : allowed.map((l) => '@aigw/' + l).join(', ')} (ARCHITECTURE.md §3).`,
              },
            ]),
        { regex: '(^|/)apps/', message: 'A lib never imports an app (ARCHITECTURE.md §3).' },
      ]),
    },
  };
}

/** Where the api-gateway keeps HTTP out: the endpoint services and the generation pipeline take a `Client`. */
const HTTP_FREE = ['apps/api-gateway/src/**/*.service.ts', 'apps/api-gateway/src/generation/**/*.ts'];

/**
 * An app imports libs, never another app's source (the all-in-one process exists to compose them). In the
 * api-gateway, services and the generation pipeline do not import Fastify either.
 */
function appBoundary(app) {
  const others = APPS.filter((a) => a !== app).concat('all-in-one');
  const ignores = ['**/*.spec.ts', '**/*.fixtures.ts'];
  const patterns = [
    {
      regex: `(^|/)(${others.join('|')})/src(/|$)`,
      message: `apps/${app} does not import another app: move what both need into a lib.`,
    },
    { group: ['@aigw/testing'], message: 'Test helpers stay out of the shipped app (specs may use them).' },
    { regex: '\\.fixtures$', message: 'A *.fixtures.ts file is for specs: the build leaves it out of dist.' },
  ];
  const blocks = [
    { files: [`apps/${app}/src/**/*.ts`], ignores, rules: { 'no-restricted-imports': restrictedImports(patterns) } },
  ];
  if (app === 'api-gateway') {
    const http = {
      group: ['fastify', '@nestjs/platform-fastify'],
      message:
        'Services and the generation pipeline take a Client (http/client.ts): controllers build it from Fastify.',
    };
    blocks.push({
      files: HTTP_FREE,
      ignores,
      rules: { 'no-restricted-imports': restrictedImports([...patterns, http]) },
    });
  }
  return blocks;
}

/**
 * ioredis `pipeline()` and `multi()` build an object that copies every custom command of the connection (BullMQ
 * defines dozens): on the request path, send the commands in one turn instead; a connection corked per turn
 * (`corkEveryCommand`, `TurnCork`) writes them at once (ADR 0003).
 */
const NO_REDIS_PIPELINE = {
  selector:
    'CallExpression[arguments.length=0] > MemberExpression.callee > Identifier.property[name=/^(pipeline|multi)$/]',
  message: 'No ioredis pipeline or MULTI on the request path: issue the commands in one turn (ADR 0003).',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.mjs', '**/*.cjs', '**/*.js'] },
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
      'no-restricted-imports': restrictedImports([]),
    },
  },
  ...Object.entries(LIB_IMPORTS).map(([lib, allowed]) => libBoundary(lib, allowed)),
  ...APPS.flatMap(appBoundary),
  {
    // The request path: on Node 20 (V8 11.3) an object literal that adds fields after a spread takes a slow path
    // (~2 µs for one field, ~70 µs for twenty; libs/core/src/objects.ts, docs/benchmarks.md "Object spread").
    files: [
      'apps/router-worker/src/**/*.ts',
      'apps/api-gateway/src/{generation,openai,anthropic,http,admission,auth,native,validation}/**/*.ts',
      'libs/core/src/routing/**/*.ts',
      'libs/adapters/src/**/*.ts',
    ],
    ignores: ['**/*.spec.ts', '**/*.fixtures.ts', 'libs/adapters/src/probe/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement ~ :matches(Property, SpreadElement)',
          message:
            'Fields after a spread are slow on Node 20: use merged(base, extra) from @aigw/core, or write the object out.',
        },
        NO_REDIS_PIPELINE,
      ],
    },
  },
  {
    files: ['libs/routing/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: { 'no-restricted-syntax': ['error', NO_REDIS_PIPELINE] },
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
