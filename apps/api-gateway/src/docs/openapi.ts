import type { INestApplication } from '@nestjs/common';
import { ErrorCode, errorTypeOf, httpStatusOf } from '@aigw/core';
import { serveStaticFiles } from '@aigw/platform';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
// class-transformer keeps @Type() metadata here; the schema generator needs it to follow nested DTOs.
import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { FastifyInstance } from 'fastify';
// Not the package's main entry: that one loads the 1.4 MB browser bundle into the server (~6 MB of heap).
import getAbsoluteFSPath from 'swagger-ui-dist/absolute-path.js';
import { OPERATION_DOCS, type OperationDoc, type QueryParam } from './operations';

/** Routes anyone may call: probes, the scraper and these docs. Everything else needs a key. */
const PUBLIC_PATHS = /^\/(health|metrics|docs)/;
/** Routes that run a generation, and so can fail upstream (502/503/504) as well as locally. */
const GENERATION_PATHS = /^\/(v1\/(chat\/completions|messages|embeddings)|api\/v1\/ai\/(generate|jobs))/;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

const ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'code', 'param'],
      properties: {
        message: { type: 'string', description: 'What went wrong, for a person; never contains a secret.' },
        type: { type: 'string', description: 'OpenAI-style error family, e.g. invalid_request_error.' },
        code: { type: 'string', enum: Object.values(ErrorCode) },
        param: {
          type: 'string',
          nullable: true,
          description: 'The request field at fault (dotted path), or null.',
        },
      },
    },
  },
  example: {
    error: {
      message: 'messages must contain at least 1 elements',
      type: 'invalid_request_error',
      code: 'invalid_request',
      param: 'messages',
    },
  },
};

/** A map of check name (`redis`, `database`, …) to its result. */
const HEALTH_CHECKS: SchemaObject = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['up', 'down'] },
      latencyMs: { type: 'number' },
      message: { type: 'string' },
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

/** One response per HTTP status the gateway can answer with an error, listing the codes behind it. */
function errorResponses(): Map<number, ResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of Object.values(ErrorCode)) {
    const status = httpStatusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out = new Map<number, ResponseObject>();
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out.set(status, {
      description: `Error envelope; \`code\` is one of: ${codes.map((c) => `\`${c}\` (${errorTypeOf(c)})`).join(', ')}.`,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
    });
  }
  return out;
}

function statusesFor(path: string, isPublic: boolean): number[] {
  if (isPublic) {
    return [500];
  }
  const local = [400, 401, 403, 404, 409, 413, 415, 429, 500];
  return GENERATION_PATHS.test(path) ? [...local, 502, 503, 504] : local;
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

function decorate(
  path: string,
  op: OperationObject,
  doc: OperationDoc | undefined,
  errors: Map<number, ResponseObject>,
  schemas: Record<string, SchemaObject>,
): void {
  if (doc?.query !== undefined) {
    op.parameters = [
      ...(op.parameters ?? []).filter((p) => !('in' in p) || p.in !== 'query'),
      ...queryParameters(doc.query, schemas),
    ];
  }
  const isPublic = PUBLIC_PATHS.test(path);
  op.summary = doc?.summary ?? summaryOf(op.operationId);
  if (doc?.description) {
    op.description = doc.description;
  }
  op.tags = [doc?.tag ?? tagOf(path)];
  op.security = isPublic ? [] : [{ bearer: [] }, { apiKey: [] }];
  if (doc?.requestExample !== undefined && op.requestBody && 'content' in op.requestBody) {
    const json = op.requestBody.content['application/json'];
    if (json) {
      json.example = doc.requestExample;
    }
  }
  if (doc?.responses) {
    Object.assign(op.responses, doc.responses);
  }
  for (const status of statusesFor(path, isPublic)) {
    op.responses[String(status)] ??= errors.get(status) ?? { description: `HTTP ${status}` };
  }
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
      { type: 'object', properties: { type: { type: 'string' }, function: JSON_OBJECT } },
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
        'the admin API. Every error has the same envelope (`ErrorEnvelope`); every answer carries `x-request-id`.',
    )
    .setVersion(version)
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`.' },
      'bearer',
    )
    .addApiKey(
      { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The same key in `x-api-key`.' },
      'apiKey',
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const generated = validationMetadatasToSchemas({
    classTransformerMetadataStorage: defaultMetadataStorage,
    refPointerPrefix: '#/components/schemas/',
  }) as Record<string, SchemaObject>;
  resolveUnionFields(generated);
  document.components ??= {};
  document.components.schemas = {
    ...document.components.schemas,
    ...generated,
    ErrorEnvelope: ERROR_SCHEMA,
    HealthCheckResult: HEALTH_SCHEMA,
  };
  const errors = errorResponses();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) {
        decorate(path, op, OPERATION_DOCS[`${method.toUpperCase()} ${path}`], errors, generated);
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

const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/docs-json',
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

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
  fastify.get('/docs', (_req, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));
  fastify.get('/docs/init.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(DOCS_INIT));
  serveStaticFiles(fastify, { prefix: '/docs/assets', root: getAbsoluteFSPath() });
}
