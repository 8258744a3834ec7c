// Ajv 8 and its formats come with Fastify (its schema compiler), which the gateway runs on.
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export type Json = Record<string, unknown>;
interface Reference {
  $ref: string;
}
interface Header {
  required?: boolean;
}
interface DeclaredResponse {
  headers?: Record<string, Reference>;
  content?: Record<string, { schema: unknown }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, DeclaredResponse> }>>;
  components: { schemas: Record<string, Json>; headers: Record<string, Header> };
}

/**
 * Every object of a response schema closed to undocumented fields: an answer with a field the document does not
 * name fails here, as one that lacks a required field or has a wrong type does.
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    return schema.map(closed);
  }
  if (typeof schema !== 'object' || schema === null) {
    return schema;
  }
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'example' ? v : closed(v)]));
  if ('properties' in out && !('additionalProperties' in out)) {
    out.additionalProperties = false;
  }
  return out;
}

/**
 * Real answers checked against what the served OpenAPI document declares for their route and status, as a client
 * generator reads it: the status is declared, the headers it says are always there are, and the body matches the
 * schema of its media type (OpenAPI 3.0's `nullable` honoured, every object closed).
 */
export class ResponseContract {
  private readonly ajv = new Ajv({ allErrors: true, strict: true });
  private readonly validators = new Map<string, ValidateFunction>();
  /** `METHOD /route status` of the answers checked, for suites that check every route was. */
  readonly checked = new Set<string>();

  constructor(readonly doc: OpenApiDocument) {
    addFormats(this.ajv);
    // OpenAPI's own keywords; the components are where `#/components/...` references point.
    this.ajv.addKeyword('example');
    this.ajv.addKeyword('components');
  }

  private validatorOf(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.validators.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile({ ...(closed(schema) as Json), components: closed(this.doc.components) });
      this.validators.set(key, validate);
    }
    return validate;
  }

  expectValid(at: string, schema: unknown, body: unknown): void {
    const validate = this.validatorOf(schema);
    validate(body);
    expect({ at, errors: validate.errors ?? null, body }).toEqual({ at, errors: null, body });
  }

  /** A component schema, by name. */
  component(name: string): Reference {
    return { $ref: `#/components/schemas/${name}` };
  }

  /** The answer checked against its route's declared response; its body parsed (`{text}` for a stream). */
  async conforms(method: string, route: string, res: Response): Promise<Json> {
    const at = `${method.toUpperCase()} ${route} ${res.status}`;
    this.checked.add(at);
    const declared = this.doc.paths[route]?.[method]?.responses[String(res.status)];
    expect({ at, declared: declared !== undefined }).toEqual({ at, declared: true });
    for (const [name, header] of Object.entries(declared.headers ?? {})) {
      const required = this.doc.components.headers[header.$ref.split('/').pop() ?? ''].required === true;
      if (required) {
        expect({ at, name, present: res.headers.has(name) }).toEqual({ at, name, present: true });
      }
    }
    const text = await res.text();
    if (declared.content === undefined) {
      expect({ at, body: text }).toEqual({ at, body: '' });
      return {};
    }
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0];
    const content = declared.content[mediaType];
    expect({ at, mediaType, declared: content !== undefined }).toEqual({ at, mediaType, declared: true });
    if (mediaType !== 'application/json') {
      return { text };
    }
    const body = JSON.parse(text) as Json;
    this.expectValid(at, content.schema, body);
    return body;
  }
}
