import { isDeepStrictEqual } from 'node:util';
import {
  CatalogFileError,
  catalogDocument,
  ErrorCode,
  GatewayError,
  readCatalogDocument,
  type Catalog,
  type CatalogEnv,
  type CatalogReadOptions,
  type GatewaySpec,
  type ModelSpec,
  type ProviderSpec,
  type StoredBaseUrls,
} from '@aigw/core';
import type { ProviderSource } from '@aigw/entities';
import { pluginProblems, type PluginAllowed } from './plugin-check';

/**
 * Admin edits work on catalog documents (the catalog file's shape): the current record as a document, the change
 * merged in, and the result validated by the very reader that checks PROVIDERS_FILE, so the API and the file
 * accept exactly the same things and report problems by the same paths.
 */

export type Doc = Record<string, unknown>;

/** A provider as a document, without its key (a reference or a literal is only written when the caller sends one). */
export function providerDoc(p: ProviderSpec): Doc {
  const { apiKey: _omitted, ...doc } = catalogDocument({ providers: [p], gateways: [] }).providers[0] as Doc;
  return doc;
}

/**
 * Whether a change from `current` to `next` changes nothing: every field the catalog document has (models sorted by
 * name, defaults spelled out), and the same key. What a no-op change is (see Unchanged). A key cleared (`keyKept`
 * false, none in `next`) always changes something: the stored one may be sealed under a SECRETS_KEY this process
 * cannot open (it reads as none), and `null` must still remove it.
 */
export function sameSettings<T extends ProviderSpec | GatewaySpec>(current: T, next: T, keyKept: boolean): boolean {
  if (!keyKept && next.apiKey === undefined) {
    return false;
  }
  const doc = (x: T): Doc => ('models' in x ? providerDoc(x) : gatewayDoc(x));
  return (
    current.apiKey === next.apiKey && current.apiKeyRef === next.apiKeyRef && isDeepStrictEqual(doc(current), doc(next))
  );
}

export function gatewayDoc(g: GatewaySpec): Doc {
  const { apiKey: _omitted, ...doc } = catalogDocument({ providers: [], gateways: [g] }).gateways[0] as Doc;
  return doc;
}

export function modelDoc(m: ModelSpec): Doc {
  return (providerDoc({ ...placeholderProvider, models: [m] }).models as Doc[])[0];
}

const placeholderProvider: ProviderSpec = {
  id: 'x',
  kind: 'openai',
  baseUrl: 'http://x',
  enabled: true,
  timeoutMs: 1,
  maxConnections: 1,
  routing: 'direct',
  models: [],
};

/**
 * Documents from the admin API and imports read the environment only in apiKey, and there only the variables of
 * DEFAULT_KEY_VARIABLES (CatalogReadOptions), and hold no URL at a link-local address (see `adminDocument`).
 */
export const ADMIN_DOCUMENT: CatalogReadOptions = { environment: 'apiKeyOnly' };

/** What `adminDocument` reads of the gateway's environment (GatewayEnv). */
export interface AdminDocumentEnv {
  PROVIDER_ALLOW_LINK_LOCAL: boolean;
  ADMIN_KEY_VARIABLES: readonly string[];
}

/** Nothing stored: for a new entry, or settings that are not one (a connection test). */
export const NOTHING_STORED: StoredBaseUrls = { providers: [], gateways: [] };

/**
 * How an admin change or import reads its document: ADMIN_DOCUMENT, with a URL at a link-local or cloud metadata
 * address accepted when the operator allows providers there (PROVIDER_ALLOW_LINK_LOCAL): without it every call to one
 * is refused, so saving it is refused (400 naming `baseUrl`); and an apiKey naming only the variables the operator
 * lists in ADMIN_KEY_VARIABLES (any other is a 400 naming `apiKey`). Unless either is `stored` already for the same
 * entry (CatalogReadOptions.stored): one saved before the check, or while the variable allowed it, does not refuse a
 * change of the entry's other fields or an unchanged export imported back.
 */
export function adminDocument(env: AdminDocumentEnv, stored: StoredBaseUrls): CatalogReadOptions {
  return {
    ...ADMIN_DOCUMENT,
    ...(env.PROVIDER_ALLOW_LINK_LOCAL ? { allowLinkLocal: true } : {}),
    keyVariables: env.ADMIN_KEY_VARIABLES,
    stored,
  };
}

/**
 * Validates `{gateways, providers}`; a problem is a 400 naming its path (with `strip` removed, so a PATCH of one
 * provider names `models[0].promptPer1k`, not `providers[0].models[0].promptPer1k`). Every problem is in the
 * message; `param` names the first. A plugin module must be one `pluginAllowed` accepts (PluginAllowance). `options`:
 * how the document is read (`adminDocument`).
 */
export function validateDocs(
  doc: { gateways: Doc[]; providers: Doc[] },
  env: CatalogEnv,
  strip: RegExp,
  pluginAllowed: PluginAllowed,
  options: CatalogReadOptions = ADMIN_DOCUMENT,
): Catalog {
  try {
    return withLoadablePlugins(readCatalogDocument(doc, env, 'configuration', options), pluginAllowed);
  } catch (err) {
    throw err instanceof CatalogFileError ? invalidConfiguration(err, strip) : err;
  }
}

/** A document's problems as the 400 an admin request gets: every problem in the message, `param` the first's path. */
export function invalidConfiguration(err: CatalogFileError, strip: RegExp): GatewayError {
  const problems = err.problems.map((p) => problemOf(p, strip));
  return new GatewayError(ErrorCode.InvalidRequest, `Invalid configuration: ${problems.map(problemText).join('; ')}`, {
    param: problems[0]?.path ?? null,
    cause: err,
  });
}

/**
 * `catalog`, once every plugin module it names is `allowed`, loads and implements the adapter interface (see
 * pluginProblems); otherwise a CatalogFileError naming each `providers[<i>].plugin`, as a problem of the document.
 */
export function withLoadablePlugins(catalog: Catalog, allowed: PluginAllowed): Catalog {
  const problems = pluginProblems(catalog, allowed);
  if (problems.length > 0) {
    throw new CatalogFileError(problems, 'configuration');
  }
  return catalog;
}

/**
 * `providers[0].baseUrl must be ...` → path and message; an unknown key is named as the path, and its message says
 * so (`provider is an unknown key (allowed: ...)`, not `provider has unknown key 'provider'`).
 */
export function problemOf(problem: string, strip: RegExp): { path: string | null; message: string } {
  // The whole document's problems ("is not valid YAML ...", "is empty ...", "(top level) must be a mapping") name no
  // field: their param is null.
  if (problem.startsWith('is ')) {
    return { path: null, message: `The document ${problem}` };
  }
  const top = problem.startsWith('(top level) ');
  const space = top ? '(top level)'.length : problem.indexOf(' ');
  let path: string | null = top ? null : (space === -1 ? problem : problem.slice(0, space)).replace(strip, '');
  const message = space === -1 ? '' : problem.slice(space + 1);
  const unknown = /^has unknown key '([^']*)'(.*)$/s.exec(message);
  if (unknown) {
    path = path === null || path === '' ? unknown[1] : `${path}.${unknown[1]}`;
    return { path, message: `is an unknown key${unknown[2]}` };
  }
  return { path: path === '' ? '(body)' : path, message: path === null && top ? `The document ${message}` : message };
}

/** A problem as the error message lists it: its path first, when it has one. */
export function problemText(p: { path: string | null; message: string }): string {
  return p.path === null ? p.message : `${p.path} ${p.message}`;
}

/** The gateways as documents for validating a provider against them (their keys play no part). */
export function gatewayDocs(catalog: Catalog): Doc[] {
  return catalog.gateways.map(gatewayDoc);
}

export interface ModelView extends Doc {
  id: string;
}

/** A provider as the admin API shows it: never its key, only whether it has one and the `${VAR}` it came from. */
export interface ProviderView extends Doc {
  id: string;
  gatewayId: string | null;
  hasApiKey: boolean;
  apiKeyRef: string | null;
  source: ProviderSource | null;
  models: ModelView[];
}

export function providerView(p: ProviderSpec, source: ProviderSource | null): ProviderView {
  const { gateway, models, ...doc } = providerDoc(p);
  return {
    ...doc,
    id: p.id,
    gatewayId: typeof gateway === 'string' ? gateway : null,
    hasApiKey: p.apiKey !== undefined,
    apiKeyRef: p.apiKeyRef ?? null,
    source,
    models: (models as Doc[]).map((m) => ({ id: `${p.id}/${String(m.name)}`, ...m })),
  };
}

export interface GatewayView extends Doc {
  id: string;
  hasApiKey: boolean;
  apiKeyRef: string | null;
  source: ProviderSource | null;
}

export function gatewayView(g: GatewaySpec, source: ProviderSource | null): GatewayView {
  return {
    ...gatewayDoc(g),
    id: g.id,
    hasApiKey: g.apiKey !== undefined,
    apiKeyRef: g.apiKeyRef ?? null,
    source,
  };
}

export function notFound(what: string, param: string): GatewayError {
  return new GatewayError(ErrorCode.NotFound, `No ${what}.`, { param });
}

/** The body as an object of fields (the validation pipe already refused anything else). */
export function fieldsOf(body: unknown): Doc {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GatewayError(ErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  return { ...(body as Doc) };
}
