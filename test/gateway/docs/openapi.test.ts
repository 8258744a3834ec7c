import SwaggerParser from '@apidevtools/swagger-parser';
import { GatewayHarness } from '../support';

interface Operation {
  summary?: string;
  parameters?: { name?: string; in?: string; required?: boolean; schema?: unknown; $ref?: string }[];
  tags?: string[];
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema?: { $ref?: string }; example?: unknown }> };
  responses: Record<
    string,
    {
      description: string;
      headers?: Record<string, { $ref: string }>;
      content?: Record<string, { schema?: { $ref?: string } }>;
    }
  >;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    securitySchemes: Record<string, Record<string, unknown>>;
    parameters: Record<string, { name: string; in: string; schema?: unknown }>;
  };
}

/** The OpenAPI document at /docs-json and the page at /docs, against the running gateway. */
describe('OpenAPI docs', () => {
  const h = new GatewayHarness();
  let doc: Document;

  beforeAll(async () => {
    await h.start();
    const res = await h.get('/docs-json', {});
    expect(res.status).toBe(200);
    doc = (await res.json()) as Document;
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const operations = (): [string, string, Operation][] =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]): [string, string, Operation] => [method, path, op]),
    );

  it('is served without a key, as OpenAPI 3, with both ways to present a key', () => {
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['apiKey', 'bearer']);
  });

  it('is a valid OpenAPI document: every $ref resolves, every schema is well-formed (what client generators need)', async () => {
    // The validator dereferences in place: it gets a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('declares each path parameter of a template, and none that is not in it (a wildcard route too)', () => {
    for (const [method, path, op] of operations()) {
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect({ method, path, params: declared.sort() }).toEqual({ method, path, params: inTemplate });
    }
    // The wildcard route's parameter has the README's name, and a type.
    const [id] = doc.paths['/v1/models/{id}'].get.parameters ?? [];
    expect(id).toMatchObject({ name: 'id', in: 'path', schema: { type: 'string' } });
    expect(doc.paths['/v1/models/{id}'].get.summary).toBe('Retrieve a model (OpenAI wire format)');
  });

  it('documents the query parameters each route reads', () => {
    const query = (method: string, path: string) =>
      (doc.paths[path][method].parameters ?? [])
        .filter((p) => p.in === 'query')
        .map((p) => p.name)
        .sort();
    expect(query('get', '/api/v1/ai/usage')).toEqual(['from', 'groupBy', 'to']);
    // Anthropic's cursors of the models list, which its SDKs page by.
    expect(query('get', '/v1/models')).toEqual(['after_id', 'before_id', 'limit']);
    expect(query('get', '/api/v1/ai/admin/keys')).toEqual(['cursor', 'limit', 'order', 'userId']);
    expect(query('get', '/api/v1/ai/admin/users')).toEqual(['cursor', 'limit', 'order', 'q']);
    expect(query('get', '/api/v1/ai/admin/config/export')).toEqual(['format']);
    expect(query('post', '/api/v1/ai/admin/config/import')).toEqual(['dryRun']);
    expect(query('delete', '/api/v1/ai/admin/cache')).toEqual(expect.arrayContaining(['model', 'prefix']));
    expect(query('get', '/api/v1/ai/admin/providers/{id}/health')).toEqual(expect.arrayContaining(['from', 'to']));
    for (const path of ['/api/v1/ai/admin/usage', '/api/v1/ai/admin/costs', '/api/v1/ai/metrics']) {
      expect(query('get', path)).toEqual(expect.arrayContaining(['from', 'to']));
    }
  });

  it('lists every route of the gateway, each with a summary, a tag and the error envelope', () => {
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/v1/chat/completions',
      '/v1/messages',
      '/v1/embeddings',
      '/api/v1/ai/generate',
      '/api/v1/ai/jobs/{id}',
      '/api/v1/ai/admin/keys',
    ]) {
      expect(paths).toContain(p);
    }
    for (const [method, path, op] of operations()) {
      expect({ at: `${method} ${path}`, summary: typeof op.summary === 'string' && op.summary.length > 0 }).toEqual({
        at: `${method} ${path}`,
        summary: true,
      });
      expect(op.tags?.length).toBe(1);
      // Anthropic's routes answer errors in Anthropic's shape.
      const envelope = path.startsWith('/v1/messages') ? 'AnthropicErrorEnvelope' : 'ErrorEnvelope';
      expect(op.responses['500']?.content?.['application/json']?.schema?.$ref).toBe(`#/components/schemas/${envelope}`);
    }
  });

  it('requires a key on every route but health, metrics and the docs', () => {
    for (const [method, path, op] of operations()) {
      const open = /^\/(health|metrics|docs)/.test(path);
      // An empty requirement would make the key optional: only MODELS_PUBLIC does that (below).
      const keyRequired =
        (op.security ?? []).length > 0 && !(op.security ?? []).some((s) => Object.keys(s).length === 0);
      expect({ at: `${method} ${path}`, secured: keyRequired }).toEqual({
        at: `${method} ${path}`,
        secured: !open,
      });
      if (!open) {
        expect(op.responses['401']).toBeDefined();
      }
    }
  });

  it('closes the native request body and its options to unknown fields, as the gateway does', () => {
    const schemas = doc.components.schemas as Record<string, { additionalProperties?: boolean }>;
    expect(schemas.GenerateDto.additionalProperties).toBe(false);
    expect(schemas.GenerateOptionsDto.additionalProperties).toBe(false);
  });

  it('presents a key as an opaque bearer token, not a JWT', () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.bearer.bearerFormat).toBeUndefined();
  });

  it('names ISO date ranges by one string pattern (a oneOf of date and date-time fails where formats are ignored)', () => {
    const from = (path: string) => doc.paths[path].get.parameters?.find((p) => p.name === 'from')?.schema;
    for (const path of ['/api/v1/ai/usage', '/api/v1/ai/admin/usage', '/api/v1/ai/metrics']) {
      const schema = from(path) as { type: string; pattern: string; description: string };
      expect(schema).toEqual({ type: 'string', pattern: expect.any(String), description: expect.any(String) });
      const pattern = new RegExp(schema.pattern);
      for (const ok of ['2026-12-05', '2026-12-05T10:00:00Z', '2026-12-05T10:00:00', '2026-12-05T10:00:00.5+09:00']) {
        expect(ok).toMatch(pattern);
      }
      expect('2026-W49-1').not.toMatch(pattern);
    }
    expect(JSON.stringify(doc)).not.toContain('"oneOf":[{"format":"date"');
  });

  it('types whole-number fields as integers, as the server checks them', () => {
    const type = (schema: string, field: string) =>
      (doc.components.schemas[schema].properties?.[field] as { type?: string }).type;
    expect(type('GenerateOptionsDto', 'maxTokens')).toBe('integer');
    expect(type('ChatCompletionDto', 'max_tokens')).toBe('integer');
    expect(type('ChatCompletionDto', 'max_completion_tokens')).toBe('integer');
    expect(type('ChatCompletionDto', 'n')).toBe('integer');
    expect(type('MessagesDto', 'max_tokens')).toBe('integer');
    expect(type('GenerateOptionsDto', 'temperature')).toBe('number');
  });

  it('describes every success answer, and the bodies of the client-facing routes', () => {
    for (const [method, path, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        expect({ at: `${method} ${path} ${status}`, described: response.description !== '' }).toEqual({
          at: `${method} ${path} ${status}`,
          described: true,
        });
      }
    }
    const body = (method: string, path: string, status: string, type = 'application/json') =>
      doc.paths[path][method].responses[status]?.content?.[type]?.schema?.$ref?.replace('#/components/schemas/', '');
    expect(body('post', '/v1/chat/completions', '200')).toBe('ChatCompletion');
    expect(doc.paths['/v1/chat/completions'].post.responses['200'].content?.['text/event-stream']).toBeDefined();
    expect(body('post', '/v1/messages', '200')).toBe('AnthropicMessage');
    expect(body('post', '/v1/messages', '400')).toBe('AnthropicErrorEnvelope');
    expect(body('post', '/v1/embeddings', '200')).toBe('EmbeddingList');
    expect(body('get', '/v1/models', '200')).toBe('ModelList');
    expect(body('get', '/v1/models/{id}', '200')).toBe('Model');
    expect(body('post', '/api/v1/ai/generate', '200')).toBe('GenerateResponse');
    expect(body('post', '/api/v1/ai/jobs', '202')).toBe('JobAccepted');
    expect(body('get', '/api/v1/ai/jobs/{id}', '200')).toBe('JobStatus');
    expect(body('get', '/api/v1/ai/models', '200')).toBe('ModelListing');
    expect(body('get', '/api/v1/ai/preferences', '200')).toBe('PreferenceList');
    expect(body('put', '/api/v1/ai/preferences', '200')).toBe('Preference');
    expect(body('delete', '/api/v1/ai/preferences', '200')).toBe('PreferenceDeleted');
    expect(body('get', '/api/v1/ai/usage', '200')).toBe('UsageReport');
    // Failed generations and jobs list what was tried.
    expect(Object.keys(doc.components.schemas.ErrorBody.properties ?? {})).toContain('attempts');
  });

  it('declares the request headers of the generation routes and the response headers clients act on', () => {
    const headerParams = (method: string, path: string) =>
      (doc.paths[path][method].parameters ?? [])
        .map((p) => (p.$ref === undefined ? p : doc.components.parameters[p.$ref.split('/').pop() ?? '']))
        .filter((p) => p.in === 'header')
        .map((p) => p.name)
        .sort();
    const routes: [string, string][] = [
      ['post', '/v1/chat/completions'],
      ['post', '/v1/messages'],
      ['post', '/v1/embeddings'],
      ['post', '/api/v1/ai/generate'],
      ['post', '/api/v1/ai/jobs'],
    ];
    for (const [method, path] of routes) {
      expect({ path, headers: headerParams(method, path) }).toEqual({
        path,
        headers: ['Idempotency-Key', 'x-gateway-allow-fallback', 'x-gateway-cache', 'x-gateway-policy'],
      });
    }
    const headers = (method: string, path: string, status: string) =>
      Object.keys(doc.paths[path][method].responses[status]?.headers ?? {});
    expect(headers('post', '/v1/chat/completions', '200')).toEqual(
      expect.arrayContaining(['x-request-id', 'x-gateway-cost-usd', 'x-gateway-cache', 'x-gateway-coalesced']),
    );
    // The 502 too: all_providers_failed while a deployment it tried cools down.
    for (const status of ['429', '502', '503']) {
      expect(headers('post', '/v1/chat/completions', status)).toEqual(['x-request-id', 'Retry-After']);
    }
    expect(headers('post', '/v1/chat/completions', '504')).toEqual(['x-request-id']);
    expect(headers('post', '/api/v1/ai/jobs', '202')).toContain('Location');
    expect(headers('get', '/api/v1/ai/models', '200')).toEqual(expect.arrayContaining(['ETag', 'Cache-Control']));
    expect(headers('get', '/api/v1/ai/models', '304')).toContain('ETag');
    expect(headerParams('get', '/api/v1/ai/models')).toEqual(['If-None-Match']);
    // Anthropic's routes also say the id in `request-id`, where its SDK reads it; answers and errors alike.
    for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
      for (const status of ['200', '400', '429']) {
        expect(headers('post', path, status)).toContain('request-id');
      }
    }
    expect(headers('post', '/v1/chat/completions', '200')).not.toContain('request-id');
    expect(headers('post', '/v1/chat/completions', '400')).not.toContain('request-id');
    // The key's limits as the gateway checks them (1..255): a generated client validates what it sends.
    expect(doc.components.parameters.IdempotencyKey.schema).toEqual({ type: 'string', minLength: 1, maxLength: 255 });
  });

  it("documents the health routes' body for 200 and 503", () => {
    for (const path of ['/health/live', '/health/ready']) {
      const { responses } = doc.paths[path].get;
      for (const status of ['200', '503']) {
        expect(responses[status]?.content?.['application/json']?.schema?.$ref).toBe(
          '#/components/schemas/HealthCheckResult',
        );
      }
    }
    expect(doc.components.schemas.HealthCheckResult.required).toEqual(['status', 'info', 'error', 'details']);
  });

  it('describes request bodies from the validation rules, with examples', () => {
    const chat = doc.paths['/v1/chat/completions'].post;
    const ref = chat.requestBody?.content['application/json'].schema?.$ref ?? '';
    const schema = doc.components.schemas[ref.replace('#/components/schemas/', '')];
    expect(Object.keys(schema.properties ?? {})).toEqual(
      expect.arrayContaining(['model', 'messages', 'stream', 'tools']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['model', 'messages']));
    expect(chat.requestBody?.content['application/json'].example).toMatchObject({ model: expect.any(String) });
    // Generation routes name their upstream failures; the error envelope lists the codes per status.
    expect(chat.responses['502']).toBeDefined();
    expect(doc.components.schemas.ErrorEnvelope.required).toEqual(['error']);
  });

  it('each documented request example of the account routes is accepted by its route', async () => {
    const example = (path: string) => doc.paths[path].post.requestBody?.content['application/json'].example;
    const user = await h.post('/api/v1/ai/admin/users', example('/api/v1/ai/admin/users'));
    expect(user.status).toBe(201);
    // The native example's fields are all ones the route takes (unknown ones would be ignored there).
    expect(Object.keys(example('/api/v1/ai/generate') as object).sort()).toEqual(['options', 'policy', 'prompt']);
  });

  it("documents the providers list's quota: its windows, when observed, on which route", () => {
    const ok = doc.paths['/api/v1/ai/admin/providers'].get.responses['200'];
    expect(JSON.stringify(ok)).toContain('#/components/schemas/AdminProviderList');
    expect(JSON.stringify(doc.components.schemas.AdminProviderListItem)).toContain(
      '#/components/schemas/ProviderQuotaDto',
    );
    const quota = doc.components.schemas.ProviderQuotaDto;
    expect(Object.keys(quota.properties ?? {}).sort()).toEqual(['observedAt', 'requests', 'route', 'tokens']);
    expect(Object.keys(doc.components.schemas.QuotaWindowDto.properties ?? {}).sort()).toEqual([
      'limit',
      'remaining',
      'resetAt',
      'stale',
    ]);
  });

  it("documents the providers list's health with the models the provider's own list lacked", () => {
    const health = doc.components.schemas.AdminProviderListItem.properties?.health as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    expect(Object.keys(health.properties ?? {}).sort()).toEqual([
      'consecutiveFailures',
      'lastCheckAt',
      'lastError',
      'status',
      'unservedModels',
    ]);
    expect(health.required).toContain('unservedModels');
    expect(health.properties?.unservedModels).toMatchObject({ type: 'array', items: { type: 'string' } });
  });

  it('serves the Swagger UI page from the package, not a CDN', async () => {
    const res = await h.get('/docs', {});
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('swagger');
    expect(html).not.toMatch(/https?:\/\/(unpkg|cdn)/);
    for (const asset of ['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css', '/docs/init.js']) {
      const a = await h.get(asset, {});
      expect({ asset, status: a.status }).toEqual({ asset, status: 200 });
      await a.arrayBuffer();
    }
  });

  it('never serves a file outside the assets folder', async () => {
    for (const probe of [
      '/docs/assets/..%2fpackage.json',
      '/docs/assets/%2e%2e/%2e%2e/package.json',
      '/docs/assets/',
    ]) {
      const res = await h.get(probe, {});
      expect({ probe, status: res.status }).toEqual({ probe, status: 404 });
      await res.arrayBuffer();
    }
  });
});

/** The document is built from the environment the gateway runs with: MODELS_PUBLIC opens the models listing. */
describe('OpenAPI docs with MODELS_PUBLIC=true', () => {
  const h = new GatewayHarness({ MODELS_PUBLIC: 'true' });

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  it('makes the key optional on GET /api/v1/ai/models only, which answers without one', async () => {
    const doc = (await (await h.get('/docs-json', {})).json()) as Document;
    expect(doc.paths['/api/v1/ai/models'].get.security).toEqual([{}, { bearer: [] }, { apiKey: [] }]);
    expect(doc.paths['/v1/models'].get.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    const anonymous = await h.get('/api/v1/ai/models', {});
    expect(anonymous.status).toBe(200);
    await anonymous.arrayBuffer();
  });
});
