import {
  ALLOW_LINK_LOCAL_VARIABLE,
  ErrorClass,
  type Diagnosis,
  type ProviderCallError,
  type ProviderKind,
  type Route,
} from '@aigw/core';
import { AddressRefusedError } from '../http/address-guard';
import { hostOf, safeUrl } from './safe-url';

/** Where the failing call went: enough to word the diagnosis. */
export interface DiagnosisContext {
  route: Route;
  kind: ProviderKind;
  /** The base URL called (provider's or gateway's); shown without credentials or query. */
  baseUrl: string;
  /** The probe's timeout. */
  timeoutMs: number;
  /** Set when the probe read a health endpoint instead of the model list. */
  healthPath?: string;
  /** The provider's catalog id (named in a model-not-served diagnosis). */
  providerId?: string;
  /** The model the call asked for (a completion probe's), when it asked for one. */
  model?: string;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const REFUSED_CODES = new Set(['ECONNREFUSED']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL']);
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const CERT_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The first transport error code along the cause chain (undici wraps, happy-eyeballs groups). */
export function transportCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) {
    return undefined;
  }
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && e.code !== 'ABORT_ERR' && e.code !== 'UND_ERR_ABORTED') {
    return e.code;
  }
  const nested = transportCode(e.cause, depth + 1);
  if (nested !== undefined) {
    return nested;
  }
  return Array.isArray(e.errors) && e.errors.length > 0 ? transportCode(e.errors[0], depth + 1) : undefined;
}

function isTlsCode(code: string): boolean {
  return CERT_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO';
}

/** Who holds the key and the URL for this route, so the suggestion names the setting to change. */
function owner(ctx: DiagnosisContext): { what: string; key: string; url: string } {
  if (ctx.route === 'gateway') {
    return {
      what: 'the gateway',
      key: "the gateway's apiKey (the LiteLLM proxy's master or virtual key) in the catalog's gateways section",
      url: "the gateway's baseUrl",
    };
  }
  return {
    what: 'the provider',
    key: "the provider's apiKey (in the catalog, usually `apiKey: ${ENV_VAR}`, or in the console)",
    url: "the provider's baseUrl",
  };
}

function pathHint(ctx: DiagnosisContext): string {
  if (ctx.healthPath !== undefined) {
    return `check healthPath (${ctx.healthPath}): it is a path on the server's origin, e.g. /health for llama.cpp and vLLM`;
  }
  if (ctx.route === 'gateway') {
    return "check the gateway's base URL: a LiteLLM proxy serves the OpenAI API under /v1 (e.g. http://litellm:4000/v1)";
  }
  switch (ctx.kind) {
    case 'openai':
      return 'check the base URL: it should end in /v1 for OpenAI-compatible servers (e.g. https://api.openai.com/v1, http://localhost:11434/v1 for Ollama)';
    case 'anthropic':
      return 'check the base URL: for Anthropic it is the origin without /v1 (https://api.anthropic.com)';
    case 'gemini':
      return 'check the base URL: for Gemini it is https://generativelanguage.googleapis.com (the adapter adds /v1beta)';
    case 'ollama':
      return 'check the base URL: for the native Ollama API it is the origin without /v1 (http://localhost:11434)';
    case 'tgi':
      return 'check the base URL: the text-generation-inference server origin (it serves /generate and /health)';
    case 'plugin':
      return "check the base URL against what the plugin's server expects";
  }
}

function notServedFix(models: readonly string[], ctx: DiagnosisContext): string {
  if (ctx.route === 'gateway') {
    return "add it to the proxy's model list under this name (LiteLLM: model_list[].model_name), or check the name: set the model's upstreamName to the name the proxy uses";
  }
  if (ctx.kind === 'ollama') {
    return `pull it on the Ollama server (ollama pull ${models.join('; ollama pull ')}), or check the name: set the model's upstreamName to one \`ollama list\` shows`;
  }
  return "check the name: set the model's upstreamName to a name the provider's model list shows, and that this key may use the model";
}

/**
 * Models the provider answers for but does not serve (Ollama's not pulled, a misspelled name): the provider works,
 * these of its deployments do not. `detail` is what the provider said, when it said it on a call.
 */
export function notServedDiagnosis(models: readonly string[], ctx: DiagnosisContext, detail?: string): Diagnosis {
  const names = models.join(', ');
  const by =
    ctx.route === 'gateway'
      ? `the gateway at ${safeUrl(ctx.baseUrl)}`
      : `${ctx.providerId === undefined ? 'the provider' : `provider ${ctx.providerId}`} at ${safeUrl(ctx.baseUrl)}`;
  return {
    code: 'not_found',
    message: `model ${names} not served by ${by}${detail === undefined || detail === '' ? '' : `: ${detail}`}; requests sent to it there get a 404 and go on to another deployment of the model, if any`,
    suggestion: notServedFix(models, ctx),
  };
}

/**
 * A failed call's answer that says the model asked for is not served (NotFound naming the model: Ollama's `model "x"
 * not found, try pulling it first`, OpenAI's model_not_found, Gemini's NOT_FOUND), rather than that nothing is served
 * at the path (a wrong base URL answers 404 too, without naming the model).
 */
function namesTheModel(err: ProviderCallError, detail: string, ctx: DiagnosisContext): boolean {
  if (err.errorClass !== ErrorClass.NotFound || ctx.model === undefined || ctx.model === '') {
    return false;
  }
  const model = ctx.model.startsWith('models/') ? ctx.model.slice('models/'.length) : ctx.model;
  return detail.includes(model);
}

/** The HTTP status of a failed call, turned into a diagnosis. */
function fromStatus(status: number, detail: string, ctx: DiagnosisContext): Diagnosis {
  const o = owner(ctx);
  const at = safeUrl(ctx.baseUrl);
  if (status === 401 || status === 403) {
    return {
      code: 'unauthorized',
      message: `${o.what} at ${at} refused the credentials (HTTP ${status}): ${detail}`,
      suggestion: `the key is missing or wrong${status === 403 ? ', or lacks permission for this endpoint' : ''}: set ${o.key}`,
    };
  }
  if (status === 402) {
    return {
      code: 'unauthorized',
      message: `${o.what} at ${at} answered HTTP 402 (payment required): ${detail}`,
      suggestion: "the account's credits are used up or billing is not set up: top up the account or use another key",
    };
  }
  if (status === 404 || status === 405) {
    return {
      code: 'not_found',
      message: `${o.what} answered HTTP ${status}: nothing is served at this path under ${at}`,
      suggestion: pathHint(ctx),
    };
  }
  if (status === 429) {
    return {
      code: 'rate_limited',
      message: `${o.what} at ${at} is rate limiting this key (HTTP 429): ${detail}`,
      suggestion:
        'the key works but is over its request or token budget: wait and test again, raise the limit or quota at the provider, or add another deployment',
    };
  }
  if (status >= 500) {
    return {
      code: 'server_error',
      message: `${o.what} at ${at} failed with HTTP ${status}: ${detail}`,
      suggestion:
        ctx.route === 'gateway'
          ? "the gateway itself is up but failing: check the LiteLLM proxy's logs and its upstream for this model"
          : "the server is up but failing: check the provider's status page or the server's logs, then test again",
    };
  }
  if (status >= 300 && status < 400) {
    return {
      code: 'not_found',
      message: `${o.what} at ${at} answered with a redirect (HTTP ${status}); the gateway does not follow redirects`,
      suggestion: `${pathHint(ctx)}; use the final URL (often https:// instead of http://)`,
    };
  }
  return {
    code: 'bad_response',
    message: `${o.what} at ${at} answered HTTP ${status}, which is not what its API answers to this request: ${detail}`,
    suggestion: `check that ${o.url} points at a ${ctx.route === 'gateway' ? 'OpenAI-compatible proxy' : `${ctx.kind} API`} and that kind matches the server`,
  };
}

function fromTransport(code: string, err: ProviderCallError, ctx: DiagnosisContext): Diagnosis | undefined {
  const host = hostOf(ctx.baseUrl);
  const o = owner(ctx);
  if (DNS_CODES.has(code)) {
    return {
      code: 'dns_failure',
      message: `the host name ${host} does not resolve (${code})`,
      suggestion: `check the host name in ${o.url} for typos; inside Docker or Kubernetes use the service name, and make sure the monitor's network can resolve it`,
    };
  }
  if (REFUSED_CODES.has(code) || UNREACHABLE_CODES.has(code)) {
    return {
      code: 'connection_refused',
      message: REFUSED_CODES.has(code)
        ? `nothing accepts connections at ${host} (${code})`
        : `${host} is not reachable from the monitor (${code})`,
      suggestion: `check that the server is running and the port in ${o.url} is right; inside a container, localhost is the container itself: use the service name or host.docker.internal`,
    };
  }
  if (isTlsCode(code)) {
    const plain = code.includes('WRONG_VERSION') || code.includes('PACKET_LENGTH') || code === 'EPROTO';
    return {
      code: 'tls_error',
      message: `the TLS handshake with ${host} failed (${code})`,
      suggestion: plain
        ? `the server does not speak HTTPS on this port: use http:// in ${o.url}, or the server's HTTPS port`
        : `the server's certificate is not trusted (self-signed, expired or for another name): install a valid certificate, or give the gateway its CA with NODE_EXTRA_CA_CERTS`,
    };
  }
  if (code.startsWith('HPE_')) {
    return {
      code: 'bad_response',
      message: `${host} did not answer with valid HTTP (${code})`,
      suggestion: `check that ${o.url} points at the HTTP API and that the scheme is right (https:// for a TLS port)`,
    };
  }
  if (CLOSED_CODES.has(code) || err.errorClass === ErrorClass.Network) {
    return {
      code: 'connection_refused',
      message: `${host} closed the connection without an answer (${code})`,
      suggestion: `check the port and scheme in ${o.url} (an HTTPS server reached with http:// drops the connection), and any proxy or firewall in between`,
    };
  }
  return undefined;
}

/** The base URL cannot be called at all (not a URL, or not http/https). */
export function invalidUrlDiagnosis(ctx: DiagnosisContext): Diagnosis {
  return {
    code: 'not_found',
    message: `${owner(ctx).url} is not a valid http(s) URL`,
    suggestion: pathHint({ ...ctx, healthPath: undefined }),
  };
}

/**
 * Turn a failed probe call into a diagnosis. `err` is the adapter's classified error (secret-free message, HTTP
 * status when one came back, the transport error as its cause).
 */
export function diagnose(err: ProviderCallError, ctx: DiagnosisContext): Diagnosis {
  const detail = err.message.replace(/^upstream HTTP \d+: /, '');
  if (err.status !== undefined && ctx.model !== undefined && namesTheModel(err, detail, ctx)) {
    return notServedDiagnosis([ctx.model], ctx, detail);
  }
  if (err.status !== undefined && (err.status < 200 || err.status >= 300)) {
    return fromStatus(err.status, detail, ctx);
  }
  if (err.errorClass === ErrorClass.Timeout || err.errorClass === ErrorClass.Cancelled) {
    return {
      code: 'timeout',
      message: `no answer from ${hostOf(ctx.baseUrl)} within ${ctx.timeoutMs} ms`,
      suggestion: `the server accepted the connection but did not answer in time, or a firewall drops the packets: check that it is not overloaded or stuck and that ${owner(ctx).url} is the right endpoint`,
    };
  }
  if (err instanceof AddressRefusedError) {
    return {
      code: 'connection_refused',
      message: `the gateway did not connect to ${err.host}: a link-local address, where cloud metadata services answer`,
      suggestion: `point ${owner(ctx).url} at the LLM server; one really at a link-local address needs ${ALLOW_LINK_LOCAL_VARIABLE}=true on the router-worker and health-monitor`,
    };
  }
  const code = transportCode(err.cause);
  const transport = code === undefined ? undefined : fromTransport(code, err, ctx);
  if (transport !== undefined) {
    return transport;
  }
  // A 2xx whose body is not the wire format (HTML from a web server, JSON of another shape), or an unknown failure.
  return {
    code: 'bad_response',
    message: `${owner(ctx).what} at ${safeUrl(ctx.baseUrl)} answered, but not in the ${ctx.route === 'gateway' ? 'OpenAI' : ctx.kind} wire format: ${detail}`,
    suggestion: `check that ${owner(ctx).url} points at the API itself (not a web page or login portal) and that the provider's kind matches the server`,
  };
}
