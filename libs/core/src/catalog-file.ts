import { readFileSync } from 'node:fs';
import { dump, load, YAMLException } from 'js-yaml';
import {
  PROBE_MODES,
  PROVIDER_KINDS,
  ROUTING_METHODS,
  type Capability,
  type Catalog,
  type GatewaySpec,
  type ModelCacheSettings,
  type ModelSpec,
  type ProviderKind,
  type ProviderSpec,
  type RoutingMethod,
} from './catalog';
import { ConfigurationError } from './env';
import { ALLOW_LINK_LOCAL_VARIABLE, isMetadataAddress } from './metadata-address';
import { routingCapabilities } from './provider-families';
import { MAX_EMBEDDING_INPUTS_SETTING } from './embedding-limits';

/**
 * The provider catalog file (YAML): parsing, `${VAR}` / `${VAR:-default}` interpolation and
 * validation. Every problem is collected and reported at once, each naming its path
 * (`providers[1].models[0].promptPer1k ...`). Messages never echo values: a value may be a secret.
 */

export const KNOWN_CAPABILITIES: readonly Capability[] = ['chat', 'streaming', 'tools', 'vision', 'json', 'embeddings'];

export const CATALOG_DEFAULTS = {
  timeoutMs: 60_000,
  maxConnections: 128,
  routing: 'direct',
  capabilities: ['chat', 'streaming'],
} as const;

export type CatalogEnv = Record<string, string | undefined>;

export class CatalogFileError extends ConfigurationError {
  constructor(
    readonly problems: string[],
    source = 'provider catalog',
    options?: ErrorOptions,
  ) {
    super(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`, options);
    this.name = 'CatalogFileError';
  }
}

const TOP_KEYS = ['providers', 'gateways'];
/** Key lists in the order a config export writes them (GATEWAY_KEYS first: providers refer to gateways). */
export const GATEWAY_KEYS = ['id', 'baseUrl', 'apiKey', 'timeoutMs'];
export const PROVIDER_KEYS = [
  'id',
  'displayName',
  'kind',
  'baseUrl',
  'apiKey',
  'enabled',
  'timeoutMs',
  'maxConnections',
  'routing',
  'gateway',
  'plugin',
  'healthPath',
  'probe',
  'healthIntervalS',
  'maxEmbeddingInputs',
  'models',
];
export const MODEL_KEYS = [
  'name',
  'upstreamName',
  'displayName',
  'description',
  'promptPer1k',
  'completionPer1k',
  'cachedPromptPer1k',
  'cacheWritePer1k',
  'contextWindow',
  'capabilities',
  'quality',
  'recommended',
  'enabled',
  'cache',
];
const MODEL_CACHE_KEYS = ['enabled', 'ttlS', 'staleTtlS'];
/** A cache entry lives at most a year: longer is a typo in seconds vs. milliseconds. */
const MAX_CACHE_TTL_S = 31_536_000;

// Ids end up in `provider/model` refs, metric labels and URLs, hence the conservative alphabet.
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/**
 * Ids and model names are path segments of the admin API (`/providers/:id/models/:name`), which the HTTP apps
 * take up to 1,024 characters (`maxParamLength` in libs/platform's createHttpApp; a model name percent-encoded
 * may triple): a longer one could be created and then never be reached again.
 */
const MAX_ID_LENGTH = 64;
const MAX_MODEL_NAME_LENGTH = 256;
/** PostgreSQL's `integer`. */
const MAX_INT4 = 2_147_483_647;
/**
 * USD per 1k tokens: prices are stored as numeric(18,9), whose largest value is just under 1e9 (a larger one was a
 * database error, a 500 from the admin API). A million dollars per thousand tokens is past any real price.
 */
const MAX_PRICE_PER_1K = 1_000_000;
const NUMBER_TEXT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const REFERENCE = /\$\{([^}]*)\}/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A whole value that is one environment reference without a literal default: safe to export as is. */
const SECRET_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}$/;
/**
 * What an HTTP header value may not hold (undici's rule, lib/core/request.js): keys are sent in one. The catalog
 * refuses such a key, and the adapters' pool refuses such a header before undici sees it (undici refuses the
 * request but may leave a one-connection pool that never serves again).
 */
export const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** The `${VAR}` reference an apiKey value is, when it is exactly one without a literal default (see ProviderSpec). */
export function secretReferenceOf(raw: unknown): string | undefined {
  return typeof raw === 'string' && SECRET_REFERENCE.test(raw.trim()) ? raw.trim() : undefined;
}

type Obj = Record<string, unknown>;

interface NumberRule {
  min: number;
  max?: number;
  integer?: boolean;
}

/**
 * How a catalog document may read the environment. An operator's file (PROVIDERS_FILE) reads `${VAR}` in any field:
 * its author holds the environment anyway. A document from the admin API or an import (`apiKeyOnly`) reads it only in
 * `apiKey`, which is never shown: elsewhere a `${VAR}` is refused, for a display name or URL that read the
 * environment would show any variable of the gateway (another provider's key, DATABASE_URL) to admins, in `/v1/models`
 * to every key and in `/metrics` to anyone.
 */
export interface CatalogReadOptions {
  environment?: 'anywhere' | 'apiKeyOnly';
  /**
   * Accept a `baseUrl` whose host is a link-local or cloud metadata address (PROVIDER_ALLOW_LINK_LOCAL). Off (the
   * default), such a URL is a problem: the adapters refuse every call there (address-guard), so an entry holding one
   * is refused when read instead of failing every request afterwards. Only literal addresses are known here (in any
   * form the URL parser reads: `2852039166`, `[::ffff:169.254.169.254]`); a host name resolving to one is refused when
   * it is called.
   */
  allowLinkLocal?: boolean;
  /**
   * What is already stored: a link-local `baseUrl` is only checked when it is new or changed. One equal (as read:
   * resolved, trailing slash dropped) to the `baseUrl` stored for the same entry (a provider's for a provider, a
   * gateway's for a gateway, by id) is accepted whatever `allowLinkLocal` says. Saved before the check existed, or
   * while the variable was set (an operator who set it only on the router-worker and health-monitor, as the README
   * once said), it must not block every other change of its entry (a timeout, a model), an import of an unchanged
   * export, or a start whose PROVIDERS_FILE holds it as stored; the calls are still refused (or not) where they are made.
   * Likewise an apiKey reference equal to the entry's stored `apiKeyRef` (see keyVariables).
   */
  stored?: StoredBaseUrls;
  /**
   * In `apiKeyOnly`, the variables an apiKey may name (ADMIN_KEY_VARIABLES: names, `*` standing for any characters);
   * DEFAULT_KEY_VARIABLES when absent. Another `${VAR}` is a problem naming `apiKey` and the variable, its value never
   * read: an admin key could otherwise send any variable of the gateway (`${AWS_SECRET_ACCESS_KEY}`, `${HOME}`) as the
   * key to a URL of its choosing. Only a reference new or changed is checked: one equal to the `apiKeyRef` stored for
   * the same entry (`stored`) is accepted, so an entry saved before the check (or before the operator narrowed the
   * list) still takes changes of its other fields and an unchanged export imports back. GATEWAY_SECRETS are refused
   * whatever this and `stored` say.
   */
  keyVariables?: readonly string[];
}

/**
 * What is stored of each entry, by id (a Catalog is one): its `baseUrl`, and the `${VAR}` its key came from
 * (`apiKeyRef`); see CatalogReadOptions.stored and keyVariables.
 */
export interface StoredBaseUrls {
  providers: readonly StoredEntry[];
  gateways: readonly StoredEntry[];
}

export interface StoredEntry {
  id: string;
  baseUrl: string;
  apiKeyRef?: string;
}

/** The operator's variable listing what an admin document's apiKey may name (CatalogReadOptions.keyVariables). */
export const KEY_VARIABLES_VARIABLE = 'ADMIN_KEY_VARIABLES';

/**
 * What an admin document's apiKey may name unless ADMIN_KEY_VARIABLES says otherwise: every zero-config provider
 * key variable (provider-env.ts: OPENAI_API_KEY, ..., HF_TOKEN) and the usual spelling of others. A pattern, so also
 * another service's key so spelled (DD_API_KEY) when the process holds one: the operator then lists names instead.
 * None of the gateway's own variables matches it, and one that did would have to be in GATEWAY_SECRETS
 * (test/platform/env-manifests.test.ts checks every variable the apps read and the manifests set).
 */
export const DEFAULT_KEY_VARIABLES: readonly string[] = ['*_API_KEY', 'HF_TOKEN'];

/** One item of ADMIN_KEY_VARIABLES: a variable name, `*` standing for any characters (none included). */
export const KEY_VARIABLE_PATTERN = /^[A-Za-z0-9_*]+$/;

/** Whether `name` matches one of `patterns` (KEY_VARIABLE_PATTERN items; case-sensitive, as variables are). */
export function keyVariableAllowed(name: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => globMatches(pattern, name));
}

/**
 * `*` matches any run of characters, everything else itself. Linear-ish (at most pattern × name steps), where a
 * regex of `.*` per star backtracks exponentially in the stars: a pattern of 7 stars against a 41-character name an
 * admin chose took 183 ms of the event loop.
 */
function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  // The last star seen, and the name position it has been tried to cover up to.
  let star = -1;
  let covered = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      covered = n;
    } else if (p < pattern.length && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (star !== -1) {
      p = star + 1;
      n = ++covered;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') {
    p++;
  }
  return p === pattern.length;
}

/**
 * The gateway's own secrets: an admin document's apiKey may not name them, or an admin could send them to a provider
 * URL of their choosing. (PostgreSQL's PG* variables stand in for parts of DATABASE_URL.) `CACHE_REDIS_URL` carries
 * the cache Redis' password as `REDIS_URL` does the queue's, and `ALERT_WEBHOOK_URL` is often a bearer URL (a chat
 * webhook's token is in its path); a ConfigMap given whole to every app (`envFrom`) puts both in the gateway's process.
 * So does k8s/'s Secret with `REDIS_PASSWORD` (KEDA's Redis login): every `REDIS_*`, and any `*PASSWORD`, is refused
 * too, and `SECRETS_KEY*` covers a rotation's previous keys.
 */
const GATEWAY_SECRETS =
  /^(?:DATABASE_URL|REDIS_[A-Z0-9_]*|CACHE_REDIS_URL|ALERT_WEBHOOK_URL|BOOTSTRAP_ADMIN_KEY|SECRETS_KEY[A-Z0-9_]*|PG[A-Z]*|[A-Z0-9_]*PASSWORD)$/;

/** Reads one YAML tree, collecting problems instead of stopping at the first. */
class CatalogReader {
  readonly problems: string[] = [];

  constructor(
    private readonly env: CatalogEnv,
    private readonly options: CatalogReadOptions = {},
  ) {}

  /**
   * Made well-formed: a problem may quote the document (an unknown key, a duplicated name), and one holding a lone
   * surrogate would reach the error envelope as a `\uD800` escape strict JSON parsers refuse, and the logs as U+FFFD.
   */
  problem(path: string, message: string): void {
    // U+FFFD for each lone surrogate: what a problem echoes of a document (a key) must be sendable as JSON.
    this.problems.push(`${path} ${message}`.toWellFormed());
  }

  /**
   * A key, sent as a header value: a line break or a character beyond Latin-1 (a key pasted with typographic quotes)
   * could never be sent, so it is refused here, where the problem is named, not at every call. Never echoed.
   */
  apiKey(obj: Obj, path: string, owner: string, id?: string): string | undefined {
    if (!this.keyReferencesAllowed(obj.apiKey, path, id)) {
      return undefined;
    }
    const key = this.string(obj, 'apiKey', path, owner, false);
    if (key !== undefined && INVALID_HEADER_VALUE.test(key)) {
      this.problem(
        `${path}.apiKey`,
        'holds a character an HTTP header cannot carry (a line break, or one beyond Latin-1)',
      );
      return undefined;
    }
    return key;
  }

  /**
   * In `apiKeyOnly`, whether every `${VAR}` of the apiKey `raw` of the entry at `path` (`id`) is one the operator lets
   * admins name (CatalogReadOptions.keyVariables), or the reference stored for the entry already; each other one is a
   * problem, checked before anything is read. The gateway's own secrets are left to `interpolate`, which refuses them
   * whatever is stored.
   */
  private keyReferencesAllowed(raw: unknown, path: string, id: string | undefined): boolean {
    if (this.options.environment !== 'apiKeyOnly' || typeof raw !== 'string' || !raw.includes('${')) {
      return true;
    }
    const reference = secretReferenceOf(raw);
    if (reference !== undefined && id !== undefined && this.storedEntry(path, id)?.apiKeyRef === reference) {
      return true;
    }
    const patterns = this.options.keyVariables ?? DEFAULT_KEY_VARIABLES;
    const refused = new Set<string>();
    for (const [, inner] of raw.matchAll(REFERENCE)) {
      const sep = inner.indexOf(':-');
      const name = sep === -1 ? inner : inner.slice(0, sep);
      if (VAR_NAME.test(name) && !GATEWAY_SECRETS.test(name) && !keyVariableAllowed(name, patterns)) {
        refused.add(name);
      }
    }
    for (const name of refused) {
      const allowed = patterns.length === 0 ? 'none' : patterns.join(',');
      this.problem(
        `${path}.apiKey`,
        `must not reference environment variable ${name}: the admin API and imports may only name the variables ` +
          `${KEY_VARIABLES_VARIABLE} lists (${allowed}); set the key itself, or have the operator add the variable there`,
      );
    }
    return refused.size === 0;
  }

  /** The stored entry (CatalogReadOptions.stored) with the id of the entry at `path`: a gateway's or a provider's. */
  storedEntry(path: string, id: string): StoredEntry | undefined {
    const entries = path.startsWith('gateways[') ? this.options.stored?.gateways : this.options.stored?.providers;
    return entries?.find((e) => e.id === id);
  }

  object(value: unknown, path: string, allowed: readonly string[]): Obj | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(path, 'must be a mapping');
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.problem(path, `has unknown key '${key}' (allowed: ${allowed.join(', ')})`);
      }
    }
    return value as Obj;
  }

  list(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) {
      this.problem(path, 'must be a list');
      return [];
    }
    return value;
  }

  /**
   * Replaces `${VAR}` and `${VAR:-default}` (default used when VAR is unset or empty, as in sh). A `${VAR}` without a
   * default whose VAR is unset or empty is a problem.
   */
  interpolate(text: string, path: string, owner: string): string {
    if (this.options.environment === 'apiKeyOnly' && !path.endsWith('.apiKey') && text.includes('${')) {
      this.problem(path, 'must not reference the environment (${...}): only apiKey may, in the admin API and imports');
      return text;
    }
    if (text.split('${').length - 1 > (text.match(REFERENCE)?.length ?? 0)) {
      this.problem(path, 'has an unterminated or nested ${...} reference');
      return text;
    }
    return text.replace(REFERENCE, (_match, inner: string) => {
      const sep = inner.indexOf(':-');
      const name = sep === -1 ? inner : inner.slice(0, sep);
      if (!VAR_NAME.test(name)) {
        this.problem(path, `has an invalid variable reference '\${${name}}'`);
        return '';
      }
      if (this.options.environment === 'apiKeyOnly' && GATEWAY_SECRETS.test(name)) {
        this.problem(path, `must not reference the gateway's own secret ${name}`);
        return '';
      }
      const value = this.env[name];
      if (value !== undefined && value !== '') {
        return value;
      }
      if (sep !== -1) {
        return inner.slice(sep + 2);
      }
      // Empty is unset here as everywhere else (the apps' own variables, the zero-config provider variables): a
      // `${OPENAI_API_KEY}` an orchestrator passes as '' (the k8s Secret example's placeholder) quietly made a provider
      // without a key, refused by the provider at every call. `${VAR:-}` is the way to say a value is optional.
      const state = value === undefined ? 'not set' : 'empty';
      this.problem(path, `references environment variable ${name}, which is ${state} and has no default (${owner})`);
      return '';
    });
  }

  string(obj: Obj, key: string, path: string, owner: string, required: boolean): string | undefined {
    const raw = obj[key];
    if (raw === undefined || raw === null) {
      if (required) {
        this.problem(`${path}.${key}`, 'is required');
      }
      return undefined;
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      this.problem(`${path}.${key}`, 'must be a string');
      return undefined;
    }
    const before = this.problems.length;
    const text = typeof raw === 'string' ? this.interpolate(raw, `${path}.${key}`, owner).trim() : String(raw);
    if (text.includes('\u0000')) {
      // PostgreSQL text cannot hold it.
      this.problem(`${path}.${key}`, 'must not contain NUL characters');
      return undefined;
    }
    // `search`, not `test`: the expression is global (wellFormed), and `test` would carry its lastIndex over.
    if (!text.isWellFormed()) {
      // A lone surrogate: a double-quoted YAML scalar reads `"\uD800"` (as JSON does) into a string that is not
      // well-formed UTF-16, and a YAML import never meets the JSON parser's check (libs/platform's json-body.ts):
      // PostgreSQL's text columns store U+FFFD in its place. Refused here, where every string field of a document passes.
      this.problem(
        `${path}.${key}`,
        'must not contain a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape not part of a pair): write the whole ' +
          'character, or U+FFFD',
      );
      return undefined;
    }
    if (text === '' && required && this.problems.length === before) {
      this.problem(`${path}.${key}`, 'must not be empty');
      return undefined;
    }
    return text === '' ? undefined : text;
  }

  number(obj: Obj, key: string, path: string, owner: string, rule: NumberRule, fallback?: number): number | undefined {
    let raw = obj[key];
    if (raw === undefined || raw === null) {
      return fallback;
    }
    if (typeof raw === 'string') {
      const text = this.interpolate(raw, `${path}.${key}`, owner).trim();
      raw = NUMBER_TEXT.test(text) ? Number(text) : raw;
    }
    // Integers are stored in PostgreSQL `integer` columns: larger ones were a database error (a 500) before.
    const max = rule.max ?? (rule.integer ? MAX_INT4 : undefined);
    const ok =
      typeof raw === 'number' &&
      Number.isFinite(raw) &&
      raw >= rule.min &&
      (max === undefined || raw <= max) &&
      (!rule.integer || Number.isInteger(raw));
    if (!ok) {
      const kind = rule.integer ? 'an integer' : 'a number';
      const range = max === undefined ? `>= ${rule.min}` : `between ${rule.min} and ${max}`;
      this.problem(`${path}.${key}`, `must be ${kind} ${range}`);
      return undefined;
    }
    return raw as number;
  }

  boolean(obj: Obj, key: string, path: string, owner: string, fallback: boolean): boolean {
    let raw = obj[key];
    if (raw === undefined || raw === null) {
      return fallback;
    }
    if (typeof raw === 'string') {
      const text = this.interpolate(raw, `${path}.${key}`, owner).trim().toLowerCase();
      raw = text === 'true' ? true : text === 'false' ? false : raw;
    }
    if (typeof raw !== 'boolean') {
      this.problem(`${path}.${key}`, 'must be true or false');
      return fallback;
    }
    return raw;
  }

  oneOf<T extends string>(obj: Obj, key: string, path: string, owner: string, allowed: readonly T[], fallback?: T) {
    const text = this.string(obj, key, path, owner, fallback === undefined);
    if (text === undefined) {
      return fallback;
    }
    if (!(allowed as readonly string[]).includes(text)) {
      this.problem(`${path}.${key}`, `must be one of: ${allowed.join(', ')}`);
      return undefined;
    }
    return text as T;
  }

  id(obj: Obj, path: string): string | undefined {
    const id = this.string(obj, 'id', path, path, true);
    if (id !== undefined && !ID_PATTERN.test(id)) {
      this.problem(
        `${path}.id`,
        "must start with a letter or digit and hold only letters, digits, '.', '_' or '-' (no '/')",
      );
      return undefined;
    }
    if (id !== undefined && id.length > MAX_ID_LENGTH) {
      this.problem(`${path}.id`, `must be at most ${MAX_ID_LENGTH} characters`);
      return undefined;
    }
    return id;
  }

  /** `id`: the entry's, to compare a link-local URL with the stored one (CatalogReadOptions.stored). */
  url(obj: Obj, key: string, path: string, owner: string, id?: string): string | undefined {
    const text = this.string(obj, key, path, owner, true);
    if (text === undefined) {
      return undefined;
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.problem(`${path}.${key}`, 'must be a valid http(s) URL');
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      this.problem(`${path}.${key}`, 'must be a valid http(s) URL');
      return undefined;
    }
    if (url.username !== '' || url.password !== '') {
      // A URL is shown in admin answers, exports and logs; a secret belongs in apiKey, which never is.
      this.problem(`${path}.${key}`, 'must not hold credentials (user:password@): put the secret in apiKey');
      return undefined;
    }
    const secretParam = credentialParamOf(url);
    if (secretParam !== undefined) {
      this.problem(`${path}.${key}`, `must not hold credentials (?${secretParam}=): put the secret in apiKey`);
      return undefined;
    }
    // Adapters append paths (`/chat/completions`), so a trailing slash would double up.
    const read = text.replace(/\/+$/, '');
    if (!this.linkLocalAllowed(path, id, read) && isMetadataAddress(url.hostname)) {
      this.problem(
        `${path}.${key}`,
        `is at a link-local or cloud metadata address, where every call is refused (${owner}): set ` +
          `${ALLOW_LINK_LOCAL_VARIABLE}=true to allow it, on the api-gateway as on the router-worker and the ` +
          'health-monitor (a host name resolving to one is only refused when called)',
      );
      return undefined;
    }
    return read;
  }

  /** Whether a link-local `baseUrl` (`url`, as read) of the entry at `path` (`id`) is accepted. */
  private linkLocalAllowed(path: string, id: string | undefined, url: string): boolean {
    if (this.options.allowLinkLocal === true) {
      return true;
    }
    return id !== undefined && this.storedEntry(path, id)?.baseUrl === url;
  }
}

/**
 * Query parameters that carry a credential (`?key=`, `?api-key=`, `?access_token=`, `?sig=`, Azure Functions'
 * `?code=`): a URL is shown in admin answers, exports, the audit log and logs, so a secret there is refused, as
 * `user:password@` is. Other parameters (Azure OpenAI's `api-version`) are kept and sent on every call.
 */
const CREDENTIAL_PARAM =
  /^(?:.*[-_])?(?:key|apikey|token|secret|password|passwd|pwd|sig|signature|code|auth|credentials?)$/i;

export function credentialParamOf(url: URL): string | undefined {
  for (const name of url.searchParams.keys()) {
    if (CREDENTIAL_PARAM.test(name)) {
      return name;
    }
  }
  return undefined;
}

function readGateway(r: CatalogReader, raw: unknown, path: string): GatewaySpec | undefined {
  const obj = r.object(raw, path, GATEWAY_KEYS);
  if (!obj) {
    return undefined;
  }
  const id = r.id(obj, path);
  const owner = id === undefined ? path : `gateway '${id}'`;
  const baseUrl = r.url(obj, 'baseUrl', path, owner, id);
  const apiKey = r.apiKey(obj, path, owner, id);
  const apiKeyRef = secretReferenceOf(obj.apiKey);
  const timeoutMs = r.number(obj, 'timeoutMs', path, owner, { min: 1, integer: true }, CATALOG_DEFAULTS.timeoutMs);
  if (id === undefined || baseUrl === undefined || timeoutMs === undefined) {
    return undefined;
  }
  return {
    id,
    baseUrl,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(apiKeyRef === undefined ? {} : { apiKeyRef }),
    timeoutMs,
  };
}

function readCapabilities(r: CatalogReader, obj: Obj, path: string): Capability[] {
  if (obj.capabilities === undefined || obj.capabilities === null) {
    return [...CATALOG_DEFAULTS.capabilities];
  }
  const items = r.list(obj.capabilities, `${path}.capabilities`);
  const out: Capability[] = [];
  items.forEach((item, i) => {
    if (typeof item !== 'string' || !(KNOWN_CAPABILITIES as readonly string[]).includes(item)) {
      r.problem(`${path}.capabilities[${i}]`, `must be one of: ${KNOWN_CAPABILITIES.join(', ')}`);
    } else if (!out.includes(item as Capability)) {
      out.push(item as Capability);
    }
  });
  if (Array.isArray(obj.capabilities) && items.length === 0) {
    r.problem(`${path}.capabilities`, 'must not be empty');
  }
  return out;
}

function readModel(r: CatalogReader, raw: unknown, path: string, owner: string): ModelSpec | undefined {
  const obj = r.object(raw, path, MODEL_KEYS);
  if (!obj) {
    return undefined;
  }
  const name = r.string(obj, 'name', path, owner, true);
  if (name !== undefined && name.length > MAX_MODEL_NAME_LENGTH) {
    r.problem(`${path}.name`, `must be at most ${MAX_MODEL_NAME_LENGTH} characters`);
  }
  const upstreamName = r.string(obj, 'upstreamName', path, owner, false);
  const displayName = r.string(obj, 'displayName', path, owner, false);
  if (displayName !== undefined && displayName.length > MAX_DISPLAY_NAME) {
    r.problem(`${path}.displayName`, `must be at most ${MAX_DISPLAY_NAME} characters`);
  }
  const description = r.string(obj, 'description', path, owner, false);
  if (description !== undefined && description.length > MAX_MODEL_DESCRIPTION) {
    r.problem(`${path}.description`, `must be at most ${MAX_MODEL_DESCRIPTION} characters`);
  }
  const price = { min: 0, max: MAX_PRICE_PER_1K };
  const promptPer1k = r.number(obj, 'promptPer1k', path, owner, price);
  const completionPer1k = r.number(obj, 'completionPer1k', path, owner, price);
  const cachedPromptPer1k = r.number(obj, 'cachedPromptPer1k', path, owner, price);
  const cacheWritePer1k = r.number(obj, 'cacheWritePer1k', path, owner, price);
  const contextWindow = r.number(obj, 'contextWindow', path, owner, { min: 1, integer: true });
  const capabilities = readCapabilities(r, obj, path);
  const quality = r.number(obj, 'quality', path, owner, { min: 0, max: 1 });
  const recommended = r.boolean(obj, 'recommended', path, owner, false);
  const enabled = r.boolean(obj, 'enabled', path, owner, true);
  const cache = readModelCache(r, obj, path, owner);
  for (const key of ['promptPer1k', 'completionPer1k', 'contextWindow']) {
    if (obj[key] === undefined || obj[key] === null) {
      r.problem(`${path}.${key}`, 'is required');
    }
  }
  if (name === undefined || promptPer1k === undefined || completionPer1k === undefined || contextWindow === undefined) {
    return undefined;
  }
  return {
    name,
    ...(upstreamName === undefined ? {} : { upstreamName }),
    ...(displayName === undefined ? {} : { displayName }),
    ...(description === undefined ? {} : { description }),
    promptPer1k,
    completionPer1k,
    ...(cachedPromptPer1k === undefined ? {} : { cachedPromptPer1k }),
    ...(cacheWritePer1k === undefined ? {} : { cacheWritePer1k }),
    contextWindow,
    capabilities,
    ...(quality === undefined ? {} : { quality }),
    ...(recommended ? { recommended } : {}),
    enabled,
    ...(cache === undefined ? {} : { cache }),
  };
}

/** `cache: {enabled?, ttlS?, staleTtlS?}`: absent or empty means the global settings. */
function readModelCache(r: CatalogReader, model: Obj, path: string, owner: string): ModelCacheSettings | undefined {
  if (model.cache === undefined || model.cache === null) {
    return undefined;
  }
  const obj = r.object(model.cache, `${path}.cache`, MODEL_CACHE_KEYS);
  if (!obj) {
    return undefined;
  }
  const out: ModelCacheSettings = {};
  if (obj.enabled !== undefined && obj.enabled !== null) {
    out.enabled = r.boolean(obj, 'enabled', `${path}.cache`, owner, false);
  }
  const ttlS = r.number(obj, 'ttlS', `${path}.cache`, owner, { min: 1, max: MAX_CACHE_TTL_S, integer: true });
  if (ttlS !== undefined) {
    out.ttlS = ttlS;
  }
  const staleTtlS = r.number(obj, 'staleTtlS', `${path}.cache`, owner, { min: 0, max: MAX_CACHE_TTL_S, integer: true });
  if (staleTtlS !== undefined) {
    out.staleTtlS = staleTtlS;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** How a provider is reached: what a connection test of settings not saved yet needs from them. */
export interface ConnectionSettings {
  baseUrl: string;
  apiKey?: string;
}

/**
 * The saved entry a connection test's settings are changed settings of (a form editing it): a provider's (a provider
 * edit form) or a gateway's (the console's Gateway screen), by id. See readConnectionSettings.
 */
export type ConnectionSettingsOf = { providerId: string } | { gatewayId: string };

/**
 * `baseUrl` and `apiKey` of provider settings that are not a catalog entry (a connection test of a form not saved
 * yet), read exactly as a provider's in a catalog document: `${VAR}` resolved from `env` under `options`, the same
 * checks, a trailing slash dropped, an empty key absent. Throws a CatalogFileError whose problems name `baseUrl` or
 * `apiKey` (never a value), so what a test accepts is what a save would store; a link-local address alone is tested
 * regardless (`allowLinkLocal`), so that the test reports what the call does with it. `of`: the saved provider or
 * gateway these are changed settings of, read as a change of that entry is (a key reference equal to the `apiKeyRef`
 * `options.stored` holds for it is accepted, see CatalogReadOptions.keyVariables); without it, as a new entry.
 */
export function readConnectionSettings(
  raw: { baseUrl: unknown; apiKey?: unknown },
  env: CatalogEnv,
  options: CatalogReadOptions = {},
  of?: ConnectionSettingsOf,
): ConnectionSettings {
  // The reader finds an entry's stored reference by the entry's path: a gateway's under `gateways[...]`, any other
  // path's among the providers. The settings tested have the path '' (so that the problems name `apiKey` alone), so
  // the one stored entry they may be a change of is handed to the reader as the only one of that list: a gateway's
  // reference is then accepted for that gateway's settings, and never a provider's of the same id (or the reverse).
  const id = of === undefined ? undefined : 'gatewayId' in of ? of.gatewayId : of.providerId;
  const entries = of === undefined ? [] : 'gatewayId' in of ? options.stored?.gateways : options.stored?.providers;
  const stored: StoredBaseUrls = { providers: (entries ?? []).filter((e) => e.id === id), gateways: [] };
  // A link-local URL is tested all the same: the call's refusal (AddressRefusedError) is what the test reports.
  const r = new CatalogReader(env, { ...options, allowLinkLocal: true, stored });
  const obj: Obj = { baseUrl: raw.baseUrl, apiKey: raw.apiKey };
  // The path `.apiKey` is what CatalogReadOptions' `apiKeyOnly` recognises; it is stripped from the problems below.
  const baseUrl = r.url(obj, 'baseUrl', '', 'the settings tested');
  const apiKey = r.apiKey(obj, '', 'the settings tested', id);
  if (r.problems.length > 0 || baseUrl === undefined) {
    throw new CatalogFileError(
      r.problems.map((p) => p.replace(/^\./, '')),
      'configuration',
    );
  }
  return apiKey === undefined ? { baseUrl } : { baseUrl, apiKey };
}

/**
 * The longest `displayName` of a provider or a model: the admin API's limit on the name of a user or a key. A model's
 * and its description are listed to every client (models listing, preferences, console): 100,000 characters of either
 * were stored and listed before.
 */
export const MAX_DISPLAY_NAME = 200;
/** The longest model `description`: a paragraph. */
export const MAX_MODEL_DESCRIPTION = 2_000;

function readProvider(r: CatalogReader, raw: unknown, path: string): ProviderSpec | undefined {
  const obj = r.object(raw, path, PROVIDER_KEYS);
  if (!obj) {
    return undefined;
  }
  const id = r.id(obj, path);
  const owner = id === undefined ? path : `provider '${id}'`;
  const displayName = r.string(obj, 'displayName', path, owner, false);
  if (displayName !== undefined && displayName.length > MAX_DISPLAY_NAME) {
    // The admin API's limit on the names of users and keys: 100,000 characters were stored and listed everywhere.
    r.problem(`${path}.displayName`, `must be at most ${MAX_DISPLAY_NAME} characters`);
  }
  const kind = r.oneOf(obj, 'kind', path, owner, PROVIDER_KINDS);
  const baseUrl = r.url(obj, 'baseUrl', path, owner, id);
  const apiKey = r.apiKey(obj, path, owner, id);
  const apiKeyRef = secretReferenceOf(obj.apiKey);
  const enabled = r.boolean(obj, 'enabled', path, owner, true);
  const timeoutMs = r.number(obj, 'timeoutMs', path, owner, { min: 1, integer: true }, CATALOG_DEFAULTS.timeoutMs);
  const maxConnections = r.number(
    obj,
    'maxConnections',
    path,
    owner,
    { min: 1, integer: true },
    CATALOG_DEFAULTS.maxConnections,
  );
  const routing = r.oneOf(obj, 'routing', path, owner, ROUTING_METHODS, CATALOG_DEFAULTS.routing);
  const gateway = r.string(obj, 'gateway', path, owner, false);
  const plugin = r.string(obj, 'plugin', path, owner, false);
  if (kind === 'plugin' && plugin === undefined) {
    r.problem(`${path}.plugin`, `is required when kind is 'plugin' (the module implementing the adapter, ${owner})`);
  } else if (kind !== undefined && kind !== 'plugin' && plugin !== undefined) {
    r.problem(`${path}.plugin`, `is only allowed with kind 'plugin'`);
  }
  const healthPath = r.string(obj, 'healthPath', path, owner, false);
  if (healthPath !== undefined && !healthPath.startsWith('/')) {
    r.problem(`${path}.healthPath`, "must be a path starting with '/' (e.g. /health)");
  }
  const probe = r.oneOf(obj, 'probe', path, owner, PROBE_MODES, 'health');
  const healthIntervalS = r.number(obj, 'healthIntervalS', path, owner, { min: 1, max: 86_400, integer: true });
  const maxEmbeddingInputs = r.number(obj, 'maxEmbeddingInputs', path, owner, {
    min: 1,
    max: MAX_EMBEDDING_INPUTS_SETTING,
    integer: true,
  });
  const models: ModelSpec[] = [];
  const seen = new Set<string>();
  const rawModels = obj.models === undefined || obj.models === null ? [] : r.list(obj.models, `${path}.models`);
  rawModels.forEach((m, i) => {
    const model = readModel(r, m, `${path}.models[${i}]`, owner);
    // Checked on the raw name so that a duplicate of an invalid entry is reported too.
    const name = m !== null && typeof m === 'object' ? (m as Obj).name : undefined;
    if (typeof name === 'string' && seen.has(name)) {
      r.problem(`${path}.models[${i}].name`, `duplicates model '${name}' of ${owner}`);
    } else if (typeof name === 'string') {
      seen.add(name);
    }
    if (model && kind !== undefined) {
      checkFamily(r, model, kind, routing ?? CATALOG_DEFAULTS.routing, `${path}.models[${i}]`);
    }
    if (model) {
      models.push(model);
    }
  });
  if (
    id === undefined ||
    kind === undefined ||
    baseUrl === undefined ||
    timeoutMs === undefined ||
    maxConnections === undefined ||
    routing === undefined
  ) {
    return undefined;
  }
  return {
    id,
    ...(displayName === undefined ? {} : { displayName }),
    kind,
    baseUrl,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(apiKeyRef === undefined ? {} : { apiKeyRef }),
    enabled,
    timeoutMs,
    maxConnections,
    routing,
    ...(gateway === undefined ? {} : { gateway }),
    ...(plugin === undefined ? {} : { plugin }),
    ...(healthPath === undefined ? {} : { healthPath }),
    ...(probe === 'completion' ? { probe } : {}),
    ...(healthIntervalS === undefined ? {} : { healthIntervalS }),
    ...(maxEmbeddingInputs === undefined ? {} : { maxEmbeddingInputs }),
    models,
  };
}

/**
 * A capability the provider's wire format cannot honour would be silently dropped on every request. Through a gateway
 * (routing `gateway` or `auto`) the gateway's translation counts too (GATEWAY_ROUTE_EXTRAS): Claude's JSON mode.
 */
function checkFamily(
  r: CatalogReader,
  model: ModelSpec,
  kind: ProviderKind,
  routing: RoutingMethod,
  path: string,
): void {
  const allowed = routingCapabilities(kind, routing);
  for (const c of model.capabilities) {
    if (!allowed.includes(c)) {
      r.problem(
        `${path}.capabilities`,
        `has '${c}', which the ${kind} API does not support (it supports: ${allowed.join(', ')})`,
      );
    }
  }
}

function checkReferences(
  r: CatalogReader,
  providers: (ProviderSpec | undefined)[],
  gateways: (GatewaySpec | undefined)[],
) {
  const gatewayIds = new Set<string>();
  gateways.forEach((g, i) => {
    if (g && gatewayIds.has(g.id)) {
      r.problem(`gateways[${i}].id`, `duplicates gateway id '${g.id}'`);
    }
    if (g) {
      gatewayIds.add(g.id);
    }
  });
  const providerIds = new Set<string>();
  providers.forEach((p, i) => {
    if (!p) {
      return;
    }
    if (providerIds.has(p.id)) {
      r.problem(`providers[${i}].id`, `duplicates provider id '${p.id}'`);
    }
    providerIds.add(p.id);
    if (p.gateway !== undefined && !gatewayIds.has(p.gateway)) {
      r.problem(`providers[${i}].gateway`, `references unknown gateway '${p.gateway}'`);
    } else if (p.gateway === undefined && p.routing !== 'direct') {
      r.problem(`providers[${i}].gateway`, `is required when routing is '${p.routing}'`);
    }
  });
}

/** Parses catalog YAML and validates it. Throws CatalogFileError listing every problem. */
export function parseCatalog(
  yamlText: string,
  env: CatalogEnv,
  source?: string,
  options?: CatalogReadOptions,
): Catalog {
  let doc: unknown;
  try {
    doc = load(yamlText);
  } catch (err) {
    // The YAMLException message quotes the offending lines, which may hold a literal key.
    const where = err instanceof YAMLException ? ` at line ${err.mark.line + 1}: ${err.reason}` : '';
    throw new CatalogFileError([`is not valid YAML${where}`], source, { cause: err });
  }
  return readCatalogDocument(doc, env, source, options);
}

/**
 * Validates a catalog already parsed (from YAML or JSON): `{providers, gateways?}`. Throws CatalogFileError
 * listing every problem with its path.
 */
export function readCatalogDocument(
  doc: unknown,
  env: CatalogEnv,
  source?: string,
  options?: CatalogReadOptions,
): Catalog {
  const r = new CatalogReader(env, options);
  if (doc === undefined || doc === null) {
    throw new CatalogFileError(["is empty: expected a top-level 'providers:' list"], source);
  }
  const top = r.object(doc, '(top level)', TOP_KEYS);
  if (!top) {
    throw new CatalogFileError(r.problems, source);
  }
  if (top.providers === undefined || top.providers === null) {
    r.problem('providers', 'is required (a list of providers)');
  }
  const rawProviders = top.providers === undefined || top.providers === null ? [] : r.list(top.providers, 'providers');
  const rawGateways = top.gateways === undefined || top.gateways === null ? [] : r.list(top.gateways, 'gateways');
  const gateways = rawGateways.map((g, i) => readGateway(r, g, `gateways[${i}]`));
  const providers = rawProviders.map((p, i) => readProvider(r, p, `providers[${i}]`));
  checkReferences(r, providers, gateways);
  if (r.problems.length > 0) {
    throw new CatalogFileError(r.problems, source);
  }
  return {
    providers: providers.filter((p): p is ProviderSpec => p !== undefined),
    gateways: gateways.filter((g): g is GatewaySpec => g !== undefined),
  };
}

type Entry = [string, unknown];

/** The fields of `spec` in `keys` order, undefined left out; `apiKey` only as its environment reference. */
function ordered(spec: object, keys: readonly string[], children: Record<string, (v: unknown) => unknown> = {}) {
  const fields = spec as Record<string, unknown>;
  const out: Entry[] = [];
  for (const key of keys) {
    const value = key === 'apiKey' ? fields.apiKeyRef : fields[key];
    if (value !== undefined) {
      out.push([key, key in children ? children[key](value) : value]);
    }
  }
  return Object.fromEntries(out);
}

/**
 * The catalog as a document a config export writes: gateways then providers sorted by id, models by name,
 * keys in a fixed order, every default spelled out, and never a secret (an apiKey appears only as the `${VAR}`
 * reference it was configured with). Reading it back with `readCatalogDocument` gives the same catalog minus
 * literal keys, so export → import → export is byte-identical.
 */
export function catalogDocument(catalog: Catalog): { gateways: object[]; providers: object[] } {
  const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const byName = (a: ModelSpec, b: ModelSpec): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    gateways: [...catalog.gateways].sort(byId).map((g) => ordered(g, GATEWAY_KEYS)),
    providers: [...catalog.providers].sort(byId).map((p) =>
      ordered(p, PROVIDER_KEYS, {
        models: (models) =>
          [...(models as ModelSpec[])]
            .sort(byName)
            .map((m) => ordered(m, MODEL_KEYS, { cache: (c) => ordered(c as object, MODEL_CACHE_KEYS) })),
      }),
    ),
  };
}

export function catalogToYaml(catalog: Catalog): string {
  return dump(catalogDocument(catalog), { lineWidth: -1, noRefs: true, sortKeys: false, quotingType: "'" });
}

export function catalogToJson(catalog: Catalog): string {
  return `${JSON.stringify(catalogDocument(catalog), null, 2)}\n`;
}

/**
 * Reads and parses a catalog file (PROVIDERS_FILE). A link-local `baseUrl` is a problem like any other (the file is
 * refused, naming the entry) unless `options.allowLinkLocal`.
 */
export function loadCatalogFile(path: string, env: CatalogEnv, options?: CatalogReadOptions): Catalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new CatalogFileError([`cannot be read (${code})`], `provider catalog file ${path}`, { cause: err });
  }
  return parseCatalog(text, env, `provider catalog file ${path}`, options);
}
