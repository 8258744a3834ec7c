import type { RequestBodyObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { PROVIDER_TEMPLATES } from '../admin/provider-templates';
import { CATALOG_MODEL_FIELDS, CATALOG_MODEL_OPTIONAL, CATALOG_PROVIDER_FIELDS, type Schema } from './response-schemas';

/*
 * The bodies of the admin routes that take a catalog document's fields (providers, their models, gateways, an import)
 * rather than a DTO: their handlers read a plain object, validated by the reader of the catalog file, which the
 * scanner cannot see. Without these the document gave those operations no request body at all, so a generated client
 * had no body parameter (and sent none) and Swagger UI no body to fill in. The reader refuses an unknown key, so each
 * object is closed (`additionalProperties: false`).
 */

const STRING: SchemaObject = { type: 'string' };
const INTEGER: SchemaObject = { type: 'integer' };

function closed(properties: Record<string, Schema>, required: readonly string[] = []): SchemaObject {
  return {
    type: 'object',
    ...(required.length > 0 ? { required: [...required] } : {}),
    properties,
    additionalProperties: false,
  };
}

/** Every property nullable: in a PATCH, `null` clears a field (its default applies again). */
function nullable(properties: Record<string, Schema>): Record<string, Schema> {
  return Object.fromEntries(
    Object.entries(properties).map(([name, schema]) => [
      name,
      '$ref' in schema ? schema : { ...schema, nullable: true },
    ]),
  );
}

const API_KEY: SchemaObject = {
  type: 'string',
  description:
    'Write-only: a literal key, or `${VAR}` read from the environment (a variable ADMIN_KEY_VARIABLES allows). ' +
    'Answers show `hasApiKey` and `apiKeyRef`, never the key.',
};
const GATEWAY_ID: SchemaObject = {
  type: 'string',
  description: 'The gateway it routes through (`routing: gateway` or `auto`); the catalog file calls it `gateway`.',
};

/** A model's fields: the catalog file's, the cache settings each optional. */
const MODEL_FIELDS: Record<string, Schema> = {
  ...CATALOG_MODEL_FIELDS,
  cache: closed({ enabled: { type: 'boolean' }, ttlS: INTEGER, staleTtlS: INTEGER }),
};
const MODEL_REQUIRED = Object.keys(CATALOG_MODEL_FIELDS)
  .filter((k) => !CATALOG_MODEL_OPTIONAL.includes(k))
  .filter(
    // Defaults apply: capabilities [chat, streaming], enabled true.
    (k) => k !== 'capabilities' && k !== 'enabled',
  );

const MODEL_INPUT = closed(MODEL_FIELDS, MODEL_REQUIRED);

const { id: _id, ...PROVIDER_SETTINGS } = CATALOG_PROVIDER_FIELDS;

const PROVIDER_INPUT: SchemaObject = {
  ...closed({
    template: {
      type: 'string',
      enum: PROVIDER_TEMPLATES.map((t) => t.name),
      description: 'Start from this template (`GET .../providers/templates`); the other fields override its settings.',
    },
    id: STRING,
    ...PROVIDER_SETTINGS,
    apiKey: API_KEY,
    gateway: GATEWAY_ID,
    gatewayId: GATEWAY_ID,
    models: { type: 'array', items: { $ref: '#/components/schemas/AdminModelInput' } },
  }),
  description:
    'A provider as the catalog file writes it. `id`, `kind` and `baseUrl` are required unless `template` supplies ' +
    'them (the id defaults to the template name).',
};

const PROVIDER_PATCH: SchemaObject = {
  ...closed(nullable({ ...PROVIDER_SETTINGS, apiKey: API_KEY, gateway: GATEWAY_ID, gatewayId: GATEWAY_ID })),
  description:
    'The fields to change; `null` resets one to its default (`apiKey: null` drops the key). `id` cannot change, and ' +
    'models change through their own routes.',
};

const GATEWAY_INPUT = closed({ id: STRING, baseUrl: STRING, apiKey: API_KEY, timeoutMs: INTEGER }, ['id', 'baseUrl']);
const GATEWAY_PATCH: SchemaObject = {
  ...closed(nullable({ baseUrl: STRING, apiKey: API_KEY, timeoutMs: INTEGER })),
  description: 'The fields to change; `null` resets one to its default (`apiKey: null` drops the key).',
};

/** A configuration to import, as the catalog file and `GET .../config/export?format=json` have it. */
const CONFIG_IMPORT = closed({
  gateways: { type: 'array', items: GATEWAY_INPUT },
  providers: {
    type: 'array',
    items: closed(
      {
        id: STRING,
        ...PROVIDER_SETTINGS,
        apiKey: API_KEY,
        gateway: GATEWAY_ID,
        models: { type: 'array', items: MODEL_INPUT },
      },
      ['id', 'kind', 'baseUrl'],
    ),
  },
});

/** The request components, by name. */
export const REQUEST_SCHEMAS: Readonly<Record<string, SchemaObject>> = {
  AdminProviderInput: PROVIDER_INPUT,
  AdminProviderPatch: PROVIDER_PATCH,
  AdminProviderToggle: closed({ enabled: { type: 'boolean', description: 'Absent: flip the current state.' } }),
  AdminModelInput: MODEL_INPUT,
  AdminModelPatch: {
    ...closed(nullable(MODEL_FIELDS)),
    description: 'The fields to change; `null` resets one to its default. `name` cannot change.',
  },
  AdminGatewayInput: GATEWAY_INPUT,
  AdminGatewayPatch: GATEWAY_PATCH,
  ConfigImport: CONFIG_IMPORT,
};

/** A JSON request body of the component `schema`. */
export function jsonBody(schema: keyof typeof REQUEST_SCHEMAS, required = true): RequestBodyObject {
  return { required, content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } };
}
