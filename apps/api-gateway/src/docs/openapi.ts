import type { INestApplication } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { ErrorCode, errorTypeOf, httpStatusOf } from '@aigw/core';
import { ANTHROPIC_PATH, ENV, serveStaticFiles } from '@aigw/platform';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
  ResponseObject,
  SchemaObject,
  SecurityRequirementObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
// class-transformer keeps @Type() metadata here; the schema generator needs it to follow nested DTOs.
import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { FastifyInstance } from 'fastify';
// Not the package's main entry: that one loads the 1.4 MB browser bundle into the server (~6 MB of heap).
import getAbsoluteFSPath from 'swagger-ui-dist/absolute-path.js';
import { PUBLIC_WHEN, type PublicPredicate } from '../auth/public-when';
import type { GatewayEnv } from '../config/gateway-env';
import { headerRefs, REQUEST_HEADERS, RESPONSE_HEADERS } from './headers';
import { OPERATION_DOCS, type OperationDoc, type QueryParam } from './operations';
import { REQUEST_SCHEMAS } from './request-schemas';
import { RESPONSE_SCHEMAS } from './response-schemas';

/** Routes anyone may call: probes, the scraper and these docs. Everything else needs a key. */
const PUBLIC_PATHS = /^\/(health|metrics|docs)/;
/** Routes that run a generation, and so can fail upstream (502/503/504) as well as locally. */
const GENERATION_PATHS = /^\/(v1\/(chat\/completions|messages|embeddings)|api\/v1\/ai\/(generate|jobs))/;
/**
 * Wildcard routes (`@Get('v1/models/*')`) come out of the scanner with a parameter named `path`; the name the
 * README and OpenAI's SDKs use.
 */
const WILDCARD_PATHS: Readonly<Record<string, { path: string; param: string }>> = {
  '/v1/models/{path}': { path: '/v1/models/{id}', param: 'id' },
};
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** A map of check name (`redis`, `database`, …) to its result. */
const HEALTH_CHECKS: SchemaObject = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['up', 'down'] },
      latencyMs: { type: 'number' },
      pid: { type: 'integer', description: "The `process` check of `/health/live`: the answering process's id." },
      message: {
        type: 'string',
        description:
          'Why a check is down: `unavailable`, `<check> did not answer within 1500 ms` or `not taking jobs`; the ' +
          "dependency's own error (host, port, SQL) goes to the process's log only.",
      },
    },
  },
};

/** The body of `/health/live` and `/health/ready` (Terminus's result): the same shape for 200 and 503. */
const HEALTH_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['status', 'info', 'error', 'details'],
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: { ...HEALTH_CHECKS, description: 'The checks that passed.' },
    error: { ...HEALTH_CHECKS, description: 'The checks that failed, each with a `message`.' },
    details: { ...HEALTH_CHECKS, description: 'Every check.' },
  },
  example: {
    status: 'ok',
    info: { redis: { status: 'up', latencyMs: 0.4 }, database: { status: 'up', latencyMs: 0.9 } },
    error: {},
    details: { redis: { status: 'up', latencyMs: 0.4 }, database: { status: 'up', latencyMs: 0.9 } },
  },
};

/**
 * One response per HTTP status the gateway can answer with an error, listing the codes behind it, in the envelope
 * `envelope` (the gateway's, or Anthropic's on its routes).
 */
function errorResponses(envelope: 'ErrorEnvelope' | 'AnthropicErrorEnvelope'): Map<number, ResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.values(ErrorCode)) {
    const status = httpStatusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out = new Map<number, ResponseObject>();
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out.set(status, {
      description: `Error envelope; \`code\` is one of: ${codes.map((c) => `\`${c}\` (${errorTypeOf(c)})`).join(', ')}.`,
      // Rate limits, quotas and open breakers say when to come back; a 502 all_providers_failed only while a
      // deployment it tried is set aside for a wait its provider named (README, allProvidersFailed).
      headers: {
        ...(status === 429 || status === 502 || status === 503
          ? headerRefs('x-request-id', 'Retry-After')
          : headerRefs('x-request-id')),
        ...(envelope === 'AnthropicErrorEnvelope' ? headerRefs('request-id') : {}),
      },
      content: { 'application/json': { schema: { $ref: `#/components/schemas/${envelope}` } } },
    });
  }
  return out;
}

/**
 * The error statuses an operation declares. 503 `service_unavailable` (with Retry-After) on every route: the server
 * shutting down refuses any request, and a route meeting a Redis or PostgreSQL outage (authentication itself, past
 * the key cache) answers it rather than a 500. A route's own 503 (the health checks') is kept.
 */
function statusesFor(path: string, isPublic: boolean): number[] {
  if (isPublic) {
    return [500, 503];
  }
  const local = [400, 401, 403, 404, 409, 413, 415, 429, 500, 503];
  return GENERATION_PATHS.test(path) ? [...local, 502, 504].sort((a, b) => a - b) : local;
}

/** `createKey` → `Create key`: the fallback summary of an operation without an entry in OPERATION_DOCS. */
function summaryOf(operationId: string | undefined): string {
  const method = (operationId ?? '').split('_').pop() ?? '';
  const words = method.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function tagOf(path: string): string {
  if (PUBLIC_PATHS.test(path)) {
    return 'Operations';
  }
  if (path.startsWith('/api/v1/ai/admin')) {
    return 'Admin';
  }
  return path.startsWith('/v1/') ? 'OpenAI and Anthropic compatible' : 'Native API';
}

/** What decorating an operation needs besides the operation. */
interface DocContext {
  errors: Map<number, ResponseObject>;
  anthropicErrors: Map<number, ResponseObject>;
  schemas: Record<string, SchemaObject>;
  /** Operation ids of the `@PublicWhen` routes the environment opens to callers without a key. */
  openOperations: ReadonlySet<string>;
}

const KEY: SecurityRequirementObject[] = [{ bearer: [] }, { apiKey: [] }];

function decorate(path: string, op: OperationObject, doc: OperationDoc | undefined, ctx: DocContext): void {
  if (doc?.query !== undefined) {
    op.parameters = [
      ...(op.parameters ?? []).filter((p) => !('in' in p) || p.in !== 'query'),
      ...queryParameters(doc.query, ctx.schemas),
    ];
  }
  if (doc?.headers !== undefined) {
    op.parameters = [...(op.parameters ?? []), ...doc.headers];
  }
  const isPublic = PUBLIC_PATHS.test(path);
  op.summary = doc?.summary ?? summaryOf(op.operationId);
  if (doc?.description) {
    op.description = doc.description;
  }
  op.tags = [doc?.tag ?? tagOf(path)];
  // An empty requirement makes the key optional: the route is open (MODELS_PUBLIC), a key still counts when sent.
  op.security = isPublic ? [] : ctx.openOperations.has(op.operationId ?? '') ? [{}, ...KEY] : KEY;
  if (doc?.requestBody !== undefined) {
    op.requestBody ??= structuredClone(doc.requestBody);
  }
  if (doc?.requestExample !== undefined && op.requestBody === undefined) {
    // An example of a body the operation does not have was dropped here, and the body went undocumented.
    throw new Error(`OPERATION_DOCS gives ${path} a request example but the operation has no request body`);
  }
  if (doc?.requestExample !== undefined && op.requestBody && 'content' in op.requestBody) {
    const json = op.requestBody.content['application/json'];
    if (json) {
      json.example = doc.requestExample;
    }
  }
  if (doc?.responses) {
    Object.assign(op.responses, doc.responses);
  }
  for (const [status, response] of Object.entries(op.responses)) {
    // The scanner's default answers say nothing; every answer carries its request id.
    if (response !== undefined && Number(status) < 400 && !('$ref' in response)) {
      response.description ||= status === '204' ? 'No content.' : 'Done.';
      response.headers = {
        ...headerRefs('x-request-id'),
        ...(ANTHROPIC_PATH.test(path) ? headerRefs('request-id') : {}),
        ...response.headers,
      };
    }
  }
  const errors = ANTHROPIC_PATH.test(path) ? ctx.anthropicErrors : ctx.errors;
  for (const status of statusesFor(path, isPublic)) {
    op.responses[String(status)] ??= errors.get(status) ?? { description: `HTTP ${status}` };
  }
}

/** The operation ids (`Controller_method`, as the scanner names them) of `@PublicWhen` routes open under `env`. */
function openOperations(app: INestApplication, env: GatewayEnv): Set<string> {
  const open = new Set<string>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (typeof metatype !== 'function') {
        continue;
      }
      const prototype = metatype.prototype as object;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler: unknown = Object.getOwnPropertyDescriptor(prototype, name)?.value;
        const predicate =
          typeof handler === 'function'
            ? (Reflect.getMetadata(PUBLIC_WHEN, handler) as PublicPredicate | undefined)
            : undefined;
        if (predicate?.(env) === true) {
          open.add(`${metatype.name}_${name}`);
        }
      }
    }
  }
  return open;
}

/** An operation's query parameters: a DTO's properties (from its generated schema), or the ones listed. */
function queryParameters(
  query: string | readonly QueryParam[],
  schemas: Record<string, SchemaObject>,
): ParameterObject[] {
  if (typeof query !== 'string') {
    return query.map((q) => ({
      name: q.name,
      in: 'query',
      required: false,
      description: q.description,
      schema: q.schema,
    }));
  }
  const schema = schemas[query];
  if (schema === undefined) {
    throw new Error(`OPERATION_DOCS names query DTO ${query}, which has no generated schema`);
  }
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema: property,
  }));
}

/** Moves the operations of `from` to `to`, whose wildcard parameter is named `param`. */
function renamePathParam(document: OpenAPIObject, from: string, to: string, param: string): void {
  const item = document.paths[from];
  if (item === undefined) {
    throw new Error(`No route ${from} to document as ${to}`);
  }
  delete document.paths[from];
  document.paths[to] = item;
  for (const method of METHODS) {
    for (const p of item[method]?.parameters ?? []) {
      if ('in' in p && p.in === 'path') {
        p.name = param;
      }
    }
  }
}

/** What class-validator-jsonschema refers to for a field typed only by its design type (no schema of that name). */
const DESIGN_TYPE_REFS: Readonly<Record<string, SchemaObject>> = {
  '#/components/schemas/Object': {},
  '#/components/schemas/Array': { type: 'array', items: {} },
};
const STRING_OR_STRINGS: SchemaObject = { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
const JSON_OBJECT: SchemaObject = { type: 'object', additionalProperties: true };

/**
 * Fields whose TypeScript type is a union or a free JSON object (`string | string[]`, a JSON schema) are checked by
 * validators of ours, which class-validator-jsonschema cannot read: it falls back to the design type, a `$ref` to an
 * `Object` schema that does not exist, which made the document invalid for client generators. Their schemas, by
 * field name; any other such field is left open (any JSON value).
 */
const UNION_FIELDS: Readonly<Record<string, SchemaObject>> = {
  stop: STRING_OR_STRINGS,
  tool_choice: {
    oneOf: [
      { type: 'string', enum: ['none', 'auto', 'required'] },
      { type: 'object', properties: { type: { type: 'string' }, function: JSON_OBJECT, allowed_tools: JSON_OBJECT } },
    ],
  },
  response_format: JSON_OBJECT,
  logit_bias: { type: 'object', additionalProperties: { type: 'number' } },
  metadata: JSON_OBJECT,
  parameters: JSON_OBJECT,
  input_schema: JSON_OBJECT,
  input: {
    oneOf: [
      { type: 'string' },
      { type: 'array', items: { type: 'string' } },
      { type: 'array', items: { type: 'integer' } },
      { type: 'array', items: { type: 'array', items: { type: 'integer' } } },
    ],
  },
  content: {
    nullable: true,
    oneOf: [{ type: 'string' }, { type: 'array', items: JSON_OBJECT }],
  },
};

function resolveUnionFields(schemas: Record<string, SchemaObject>): void {
  for (const schema of Object.values(schemas)) {
    resolveIn(schema);
  }
}

/** Replaces, at any depth, a `$ref` to a design type by the field's schema (UNION_FIELDS) or an open one. */
function resolveIn(schema: SchemaObject): void {
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if ('$ref' in property) {
      const open = DESIGN_TYPE_REFS[property.$ref];
      if (open !== undefined) {
        schema.properties![name] = UNION_FIELDS[name] ?? open;
      }
    } else {
      resolveIn(property);
    }
  }
  const items = schema.items;
  if (items !== undefined) {
    if ('$ref' in items) {
      const open = DESIGN_TYPE_REFS[items.$ref];
      if (open !== undefined) {
        schema.items = open;
      }
    } else {
      resolveIn(items);
    }
  }
}

/** An `@IsIn` list's schema: integers are `integer` (`n: 1`), not `number`. */
function enumSchema(values: readonly unknown[]): SchemaObject | undefined {
  for (const type of ['string', 'boolean'] as const) {
    if (values.every((v) => typeof v === type)) {
      return { type, enum: [...values] };
    }
  }
  if (values.every((v) => typeof v === 'number')) {
    return { type: values.every((v) => Number.isInteger(v)) ? 'integer' : 'number', enum: [...values] };
  }
  return undefined;
}

/**
 * Rules whose schema from class-validator-jsonschema is not what the rule checks, by validation type. Its `@Min` and
 * `@Max` also say `type: number`, which overwrote `@IsInt()`'s `integer` when they came later (`maxTokens` was a
 * number; `@IsInt` or `@IsNumber` give the type). Its `@IsISO8601` was a `oneOf` of a date and a date-time, which
 * every value fails in a validator that ignores formats (both branches match).
 */
const CONVERTERS: Record<string, SchemaObject | ((meta: ValidationMetadata) => SchemaObject | undefined)> = {
  min: (meta) => ({ minimum: meta.constraints[0] as number }),
  max: (meta) => ({ maximum: meta.constraints[0] as number }),
  isIn: (meta) => enumSchema(meta.constraints[0] as unknown[]),
  isIso8601: {
    type: 'string',
    description: 'An ISO 8601 date or date-time.',
    anyOf: [{ format: 'date' }, { format: 'date-time' }],
  },
};

/**
 * The OpenAPI document of the api-gateway: the routes Nest knows, the request bodies from the DTOs'
 * class-validator rules (the same rules that validate requests, so the schema cannot drift from them),
 * summaries and examples from OPERATION_DOCS, both ways to present a key, and the error envelope with the
 * codes each status carries.
 */
export function buildOpenApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('AI gateway')
    .setDescription(
      'One endpoint in front of many LLM providers: OpenAI- and Anthropic-compatible APIs, a native API, and ' +
        "the admin API. Every error has the same envelope (`ErrorEnvelope`; Anthropic's shape on `/v1/messages`); " +
        'every answer carries `x-request-id`.',
    )
    .setVersion(version)
    // Not addBearerAuth: it says `bearerFormat: JWT`, and a key is an opaque token.
    .addSecurity('bearer', {
      type: 'http',
      scheme: 'bearer',
      description: 'An API key (an opaque `sk-aigw-...` token, not a JWT): `Authorization: Bearer <key>`.',
    })
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The same key in `x-api-key`.' },
      'apiKey',
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const generated = validationMetadatasToSchemas({
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: '#/components/schemas/',
    // The library's own types of converters (openapi3-ts) differ from Nest's only in naming.
    additionalConverters: CONVERTERS as never,
  }) as Record<string, SchemaObject>;
  resolveUnionFields(generated);
  document.components ??= {};
  document.components.schemas = {
    ...document.components.schemas,
    ...generated,
    ...RESPONSE_SCHEMAS,
    ...REQUEST_SCHEMAS,
    HealthCheckResult: HEALTH_SCHEMA,
  };
  document.components.headers = { ...RESPONSE_HEADERS };
  document.components.parameters = { ...REQUEST_HEADERS };
  for (const [from, to] of Object.entries(WILDCARD_PATHS)) {
    renamePathParam(document, from, to.path, to.param);
  }
  const ctx: DocContext = {
    errors: errorResponses('ErrorEnvelope'),
    anthropicErrors: errorResponses('AnthropicErrorEnvelope'),
    schemas: generated,
    openOperations: openOperations(app, app.get<GatewayEnv>(ENV)),
  };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) {
        decorate(path, op, OPERATION_DOCS[`${method.toUpperCase()} ${path}`], ctx);
      }
    }
  }
  return document;
}

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>AI gateway API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/**
 * `validatorUrl: null`: Swagger UI's default puts an "online validator" badge on the page, an image from
 * validator.swagger.io with the document's full URL in its query, on any host but localhost: the gateway's address
 * told to a third party on every visit (and a failed request offline).
 */
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/docs-json',
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
  validatorUrl: null,
});
`;

/**
 * The page and its script: own origin only (Swagger UI sets inline styles, hence `'unsafe-inline'` for styles alone),
 * never framed by another site (an admin may paste a key into Authorize and run "Try it out"), no sniffing.
 */
const DOCS_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
    "form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Serves the document at `/docs-json` (and `/docs-yaml`), built once on first request, and the Swagger UI at
 * `/docs` with its assets from the swagger-ui-dist package (works offline, no CDN). Open to anyone: the docs
 * hold no secret, and every route they describe still needs its key.
 */
export function installApiDocs(fastify: FastifyInstance, app: INestApplication, version: string): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app, version), {
    ui: false,
    raw: ['json', 'yaml'],
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
  fastify.get('/docs', (_req, reply) => reply.headers(DOCS_HEADERS).type('text/html; charset=utf-8').send(DOCS_PAGE));
  fastify.get('/docs/init.js', (_req, reply) =>
    reply.headers(DOCS_HEADERS).type('text/javascript; charset=utf-8').send(DOCS_INIT),
  );
  serveStaticFiles(fastify, { prefix: '/docs/assets', root: getAbsoluteFSPath() });
}
