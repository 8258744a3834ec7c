import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer } from '@nestjs/core';
import { declaredRoutes } from '@aigw/platform';
import { RawBody } from '../../../apps/api-gateway/src/http/raw-body';
import { isKnownFieldsOnly } from '../../../apps/api-gateway/src/validation/known-fields';
import { isStrict } from '../../../apps/api-gateway/src/validation/strict-body';
import { GatewayHarness } from '../support';
import { ResponseContract, type OpenApiDocument } from './contract';

interface Schema {
  $ref?: string;
  type?: string;
  additionalProperties?: boolean | Schema;
  properties?: Record<string, Schema>;
  required?: string[];
}
interface Operation {
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema; example?: unknown }> };
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** The routes that are pages and their files, not API: the console, the queue board, Swagger UI and the document. */
const NOT_API = /^\/(console|admin\/queues|docs)(\/|-|$)/;

/** `/api/v1/ai/jobs/:id` as OpenAPI writes it; the wildcard of `/v1/models/*` is the `id` the README names. */
function templateOf(url: string): string {
  return url === '/v1/models/*' ? '/v1/models/{id}' : url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The key prefix `@RawBody()` leaves among a handler's route arguments (a custom decorator's is generated). */
class Probe {
  body(@RawBody() _body: unknown): void {}
}
const RAW_BODY = Object.keys(Reflect.getMetadata(ROUTE_ARGS_METADATA, Probe, 'body') as object)[0].split(':')[0];

/** What a Nest handler does with a request body: reads it (with the class it is validated as), or not. */
interface Handler {
  route: string;
  body: { type: unknown } | null;
}

/**
 * The served routes and the OpenAPI document the same gateway serves, walked against each other: every API route the
 * router answers is documented with its methods and nothing else is; a handler that reads a body has a documented
 * request body and one that does not has none (a generated client gets no body parameter for an operation without
 * one, and sends none); a body class that refuses unknown fields says so (`additionalProperties: false`), so that a
 * client validating against the document refuses what the server would.
 */
describe('the OpenAPI document against the routes served', () => {
  const h = new GatewayHarness();
  let doc: Document;

  beforeAll(async () => {
    await h.start();
    const res = await h.get('/docs-json', {});
    doc = (await res.json()) as Document;
  }, 60_000);
  afterAll(() => h.stop(), 30_000);

  const documented = (): string[] =>
    Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));

  /** Every handler of the app's controllers, with its route as served. */
  function handlers(): Handler[] {
    const out: Handler[] = [];
    for (const module of h.app.get(ModulesContainer).values()) {
      for (const { metatype } of module.controllers.values()) {
        if (typeof metatype !== 'function') {
          continue;
        }
        const base = Reflect.getMetadata(PATH_METADATA, metatype) as string | undefined;
        const proto = metatype.prototype as Record<string, unknown>;
        for (const name of Object.getOwnPropertyNames(proto)) {
          const fn = proto[name];
          const method = typeof fn === 'function' ? (Reflect.getMetadata(METHOD_METADATA, fn) as unknown) : undefined;
          const path = typeof fn === 'function' ? (Reflect.getMetadata(PATH_METADATA, fn) as unknown) : undefined;
          if (typeof method !== 'number' || typeof path !== 'string') {
            continue;
          }
          const segments = [base ?? '', path].flatMap((s) => s.split('/')).filter((s) => s !== '');
          const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<
            string,
            { index: number }
          >;
          const types = (Reflect.getMetadata('design:paramtypes', proto, name) ?? []) as unknown[];
          // `@Body()` (a DTO, or a plain object), or a custom decorator reading the parsed body (`@RawBody()`).
          const body = Object.entries(args).find(
            ([key]) => key.startsWith(`${RouteParamtypes.BODY}:`) || key.split(':')[0] === RAW_BODY,
          );
          out.push({
            route: `${RequestMethod[method]} ${templateOf(`/${segments.join('/')}`)}`,
            body: body === undefined ? null : { type: types[body[1].index] },
          });
        }
      }
    }
    return out;
  }

  it('documents every API route the router serves, with its methods, and no route it does not serve', () => {
    const served = declaredRoutes(h.app.getHttpAdapter().getInstance())
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !NOT_API.test(r.url))
      .map((r) => `${r.method} ${templateOf(r.url)}`);
    expect(served.length).toBeGreaterThan(40);
    expect([...new Set(served)].sort()).toEqual(documented().sort());
  });

  it('gives a request body to every operation whose handler reads one, and none to the others', () => {
    const found = handlers();
    expect(found.map((f) => f.route).sort()).toEqual(documented().sort());
    const mismatched = found
      .filter((f) => {
        const [method, path] = f.route.split(' ');
        const op = doc.paths[path][method.toLowerCase()];
        return (op.requestBody !== undefined) !== (f.body !== null);
      })
      .map((f) => `${f.route}: ${f.body === null ? 'reads no body, documents one' : 'reads a body, documents none'}`);
    expect(mismatched).toEqual([]);
  });

  it('closes the request schemas of the body classes that refuse an unknown field', () => {
    const open: string[] = [];
    for (const f of handlers()) {
      const type = f.body?.type;
      if (typeof type !== 'function' || !(isStrict(type as never) || isKnownFieldsOnly(type))) {
        continue;
      }
      const [method, path] = f.route.split(' ');
      const schema = doc.paths[path][method.toLowerCase()].requestBody?.content['application/json']?.schema;
      const named = schema?.$ref === undefined ? schema : doc.components.schemas[schema.$ref.split('/').pop() ?? ''];
      if (named?.additionalProperties !== false) {
        open.push(`${f.route} (${(type as { name: string }).name})`);
      }
    }
    expect(open).toEqual([]);
  });

  it('fits each request example to its request schema, and the exported configuration to the import', async () => {
    const contract = new ResponseContract(doc as unknown as OpenApiDocument);
    let examples = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const json = op.requestBody?.content['application/json'];
        if (json?.example !== undefined && json.schema !== undefined) {
          examples++;
          contract.expectValid(`${method} ${path} example`, json.schema, json.example);
        }
      }
    }
    expect(examples).toBeGreaterThan(10);
    // What the export writes, the import takes back (a backup restored by a generated client).
    const exported = await h.get('/api/v1/ai/admin/config/export?format=json');
    expect(exported.status).toBe(200);
    const imported = doc.paths['/api/v1/ai/admin/config/import'].post.requestBody;
    contract.expectValid('import', imported?.content['application/json'].schema, await exported.json());
  });
});
