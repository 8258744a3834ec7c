import { ErrorClass, INVALID_HEADER_VALUE, isMetadataAddress, ProviderCallError } from '@aigw/core';
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import type { AdapterTarget } from '../types';
import { AddressRefusedError, guardedLookup } from './address-guard';
import { CallDeadline } from './deadline';

export interface HttpPoolOptions {
  /** Connections per pool when the target does not say. */
  defaultMaxConnections?: number;
  /** How long an idle keep-alive socket is kept when the server gives no hint. */
  keepAliveTimeoutMs?: number;
  /** Upper bound of the TCP/TLS connect timeout (a shorter target timeout wins). */
  maxConnectTimeoutMs?: number;
  /** The largest whole (non-streamed) 2xx body read; a larger one fails the call (see ResponseLimits). */
  maxResponseBytes?: number;
  /** The largest single event (SSE) or line (NDJSON) of a stream; a larger one fails the call. */
  maxStreamEventBytes?: number;
  /**
   * Connect to link-local and cloud metadata addresses too (PROVIDER_ALLOW_LINK_LOCAL). Off: a provider URL an admin
   * pointed there (by address or by a name resolving there) fails before any byte is sent, so no admin key can read
   * the instance's cloud credentials back through error messages. Loopback and private addresses are never refused.
   */
  allowLinkLocal?: boolean;
}

/**
 * What a provider's answer may weigh in memory. A body is held whole before it is parsed, and a stream event until
 * its end arrives: without a bound, a broken or hostile server (any OpenAI-compatible URL an admin enters) sending
 * an endless body or line grew the worker's heap until the process died, taking every other request with it.
 */
export interface ResponseLimits {
  maxResponseBytes: number;
  maxStreamEventBytes: number;
}

export interface HttpCall {
  method: 'GET' | 'POST';
  /** Appended to the path of the target's baseUrl, e.g. `/chat/completions`. May carry a query string. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export type HttpResponse = Dispatcher.ResponseData;

export interface HttpPoolStats {
  poolKey: string;
  origin: string;
  /** Open sockets. */
  connected: number;
  /** Open sockets ready for a request. */
  free: number;
  /** Requests on a socket now. */
  running: number;
  /** Requests waiting for a socket (the pool is at its connection limit). */
  queued: number;
}

interface Endpoint {
  origin: string;
  prefix: string;
  search: string;
  /** The host when it is a link-local or metadata address literally (worked out once per baseUrl), for the refusal. */
  linkLocalHost?: string;
}

/**
 * What undici refuses in a request path (lib/core/request.js; header values: core's INVALID_HEADER_VALUE). It refuses
 * such a request, but the pool it was handed to may never serve another: with one connection (maxConnections: 1)
 * every later request waits forever. A key pasted with a line break or typographic quotes did that until a restart.
 */
const INVALID_PATH = /[^\u0021-\u00ff]/;

const DEFAULT_MAX_CONNECTIONS = 128;
const DEFAULT_KEEP_ALIVE_MS = 10_000;
const DEFAULT_MAX_CONNECT_TIMEOUT_MS = 10_000;
/** Far above any real answer: 2048 embeddings of 3072 floats, the largest the gateway asks for, are ~130 MiB of JSON. */
const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
/** A streamed event is one delta; the largest real ones are inline images (a few MiB of base64). */
const DEFAULT_MAX_STREAM_EVENT_BYTES = 32 * 1024 * 1024;

/**
 * Where `request` puts the target's `sent` observer, in the options undici hands to its interceptors (`request()`
 * passes them on as they are; undici reads only the fields it knows, never a symbol's).
 */
const ON_SENT = Symbol('aigw.onSent');

type SentOptions = Dispatcher.RequestOptions & { [ON_SENT]?: () => void };

/**
 * Tells a call's CallDeadline, and its target's `sent` observer, when undici writes the request to a socket, so that
 * neither counts the time the call waited for a free connection (see CallDeadline). Everything else goes straight to
 * undici's own handler.
 */
class SentNotice implements Dispatcher.DispatchHandler {
  constructor(
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly deadline: CallDeadline | null,
    private readonly observer: (() => void) | undefined,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.deadline?.sent();
    this.observer?.();
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.handler.onResponseError?.(controller, error);
  }
}

const noticeSent: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  // `request()` hands its options, signal and ON_SENT included, to dispatch.
  const { signal, [ON_SENT]: observer } = opts as SentOptions;
  const deadline = signal instanceof CallDeadline ? signal : null;
  return dispatch(
    opts,
    deadline === null && observer === undefined ? handler : new SentNotice(handler, deadline, observer),
  );
};

/** An undici Pool and the settings it was made with (undici cannot change them afterwards). */
interface PoolEntry {
  pool: Pool;
  /** The pool as calls use it: with SentNotice. */
  calls: Dispatcher.ComposedDispatcher;
  connections: number;
  connectTimeoutMs: number;
}

/**
 * Keep-alive connection pools, one undici Pool per poolKey + origin, so one provider's connection limit and slow
 * sockets never starve another's. Pools are created on first use and live until `close()`, until a call's target
 * asks for other settings (an admin changed the provider's `maxConnections` or `timeoutMs`): that call gets a new
 * pool, and the old one closes once its in-flight and queued requests are done; or until `retainOnly` is told that
 * no target sends there any more (an admin changed the provider's `baseUrl`, or deleted it).
 */
export class HttpPool {
  private readonly pools = new Map<string, Map<string, PoolEntry>>();
  /** Pools replaced by one with new settings, closing: shutdown waits for (or aborts) their requests too. */
  private readonly retired = new Set<Pool>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly defaultMaxConnections: number;
  private readonly keepAliveTimeoutMs: number;
  private readonly maxConnectTimeoutMs: number;
  private readonly allowLinkLocal: boolean;
  readonly limits: ResponseLimits;
  private closed = false;

  constructor(options: HttpPoolOptions = {}) {
    this.defaultMaxConnections = options.defaultMaxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.maxConnectTimeoutMs = options.maxConnectTimeoutMs ?? DEFAULT_MAX_CONNECT_TIMEOUT_MS;
    this.allowLinkLocal = options.allowLinkLocal ?? false;
    this.limits = {
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      maxStreamEventBytes: options.maxStreamEventBytes ?? DEFAULT_MAX_STREAM_EVENT_BYTES,
    };
  }

  /**
   * Send one request. Resolves once the response headers are in, whatever the status; the caller must consume or
   * destroy the body. `signal` (an AbortSignal, or an EventEmitter with `aborted`, `reason` and an `abort` event)
   * aborts the request at any stage, socket included.
   */
  request(target: AdapterTarget, call: HttpCall, signal: AbortSignal | EventEmitter): Promise<HttpResponse> {
    if (this.closed) {
      // Only reachable during shutdown; Cancelled keeps it from counting against the provider.
      return Promise.reject(new ProviderCallError(ErrorClass.Cancelled, 'http pool is closed (shutting down)'));
    }
    let endpoint: Endpoint;
    try {
      endpoint = this.endpointOf(target.baseUrl);
    } catch {
      // Deliberately without the cause: URL errors carry the input, which may hold credentials.
      return Promise.reject(new ProviderCallError(ErrorClass.Provider, 'provider baseUrl is not a valid http(s) URL'));
    }
    if (endpoint.linkLocalHost !== undefined && !this.allowLinkLocal) {
      return Promise.reject(new AddressRefusedError(endpoint.linkLocalHost));
    }
    const path = joinPath(endpoint, call.path);
    const invalid = invalidPart(path, call.headers);
    if (invalid !== null) {
      // Never handed to the pool (see INVALID_HEADER_VALUE); the value is not shown: it may be a key.
      return Promise.reject(
        new ProviderCallError(
          ErrorClass.Gateway,
          `the ${invalid} holds characters HTTP does not allow (a line break, or one beyond Latin-1): check the provider's settings`,
        ),
      );
    }
    const opts: SentOptions = { method: call.method, path, headers: call.headers, body: call.body, signal };
    if (target.sent !== undefined) {
      opts[ON_SENT] = target.sent;
    }
    return this.poolFor(target, endpoint.origin).request(opts);
  }

  /** Connection usage per pool, for metrics. A socket counts as free only once undici may reuse it. */
  stats(): HttpPoolStats[] {
    const out: HttpPoolStats[] = [];
    for (const [poolKey, byOrigin] of this.pools) {
      for (const [origin, { pool }] of byOrigin) {
        const s = pool.stats;
        out.push({ poolKey, origin, connected: s.connected, free: s.free, running: s.running, queued: s.queued });
      }
    }
    return out;
  }

  /**
   * Closes every pool that none of `targets` sends to (by poolKey and origin), e.g. after a catalog reload: the
   * old origin of a provider whose baseUrl changed, a deleted provider. Each closes once its in-flight and queued
   * requests are done, as a replaced one does. A call still holding an old target later gets a pool again (a new
   * one), which the next `retainOnly` closes. Returns how many pools it closed.
   */
  retainOnly(targets: Iterable<Pick<AdapterTarget, 'poolKey' | 'baseUrl'>>): number {
    const wanted = new Map<string, Set<string>>();
    const baseUrls = new Set<string>();
    for (const t of targets) {
      baseUrls.add(t.baseUrl);
      // The origin its pools are keyed by (endpointOf); a baseUrl never sent to has no endpoint, and so no pool.
      const origin = this.endpoints.get(t.baseUrl)?.origin;
      if (origin === undefined) {
        continue;
      }
      const origins = wanted.get(t.poolKey);
      if (origins === undefined) {
        wanted.set(t.poolKey, new Set([origin]));
      } else {
        origins.add(origin);
      }
    }
    let closed = 0;
    for (const [poolKey, byOrigin] of this.pools) {
      for (const [origin, entry] of byOrigin) {
        if (wanted.get(poolKey)?.has(origin) !== true) {
          byOrigin.delete(origin);
          this.retire(entry.pool);
          closed++;
        }
      }
      if (byOrigin.size === 0) {
        this.pools.delete(poolKey);
      }
    }
    for (const baseUrl of this.endpoints.keys()) {
      if (!baseUrls.has(baseUrl)) {
        this.endpoints.delete(baseUrl);
      }
    }
    return closed;
  }

  /** Drop the pools of one poolKey, e.g. after its provider's settings changed; in-flight requests finish. */
  async closePoolKey(poolKey: string): Promise<void> {
    const byOrigin = this.pools.get(poolKey);
    if (byOrigin === undefined) {
      return;
    }
    this.pools.delete(poolKey);
    await Promise.all([...byOrigin.values()].map((e) => e.pool.close()));
  }

  /** Graceful shutdown: refuse new requests, let in-flight ones finish, then close every socket. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.takeAll().map((p) => p.close()));
  }

  /** Hard shutdown: abort in-flight requests too. */
  async destroy(): Promise<void> {
    this.closed = true;
    await Promise.all(this.takeAll().map((p) => p.destroy()));
  }

  /** Every pool, the retired ones included, forgotten here (for shutdown). */
  private takeAll(): Pool[] {
    const all = [...this.pools.values()].flatMap((byOrigin) => [...byOrigin.values()].map((e) => e.pool));
    all.push(...this.retired);
    this.pools.clear();
    this.retired.clear();
    return all;
  }

  private poolFor(target: AdapterTarget, origin: string): Dispatcher {
    let byOrigin = this.pools.get(target.poolKey);
    if (byOrigin === undefined) {
      byOrigin = new Map();
      this.pools.set(target.poolKey, byOrigin);
    }
    const connections = target.maxConnections ?? this.defaultMaxConnections;
    const connectTimeoutMs = Math.max(1, Math.min(target.timeoutMs, this.maxConnectTimeoutMs));
    const entry = byOrigin.get(origin);
    if (entry !== undefined && entry.connections === connections && entry.connectTimeoutMs === connectTimeoutMs) {
      return entry.calls;
    }
    if (entry !== undefined) {
      this.retire(entry.pool);
    }
    const pool = new Pool(origin, {
      connections,
      keepAliveTimeout: this.keepAliveTimeoutMs,
      connectTimeout: connectTimeoutMs,
      // An address literal never reaches a lookup: `request` refuses those.
      ...(this.allowLinkLocal ? {} : { connect: { lookup: guardedLookup } }),
    });
    const calls = pool.compose(noticeSent);
    byOrigin.set(origin, { pool, calls, connections, connectTimeoutMs });
    return calls;
  }

  /** Lets a replaced or unused pool finish what it holds, then close its sockets. */
  private retire(pool: Pool): void {
    this.retired.add(pool);
    pool.close().then(
      () => this.retired.delete(pool),
      () => this.retired.delete(pool),
    );
  }

  private endpointOf(baseUrl: string): Endpoint {
    let endpoint = this.endpoints.get(baseUrl);
    if (endpoint === undefined) {
      const url = new URL(baseUrl);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new TypeError('baseUrl must be http(s)');
      }
      const prefix = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
      endpoint = { origin: url.origin, prefix, search: url.search.slice(1) };
      if (isMetadataAddress(url.hostname)) {
        endpoint.linkLocalHost = url.hostname;
      }
      this.endpoints.set(baseUrl, endpoint);
    }
    return endpoint;
  }
}

/** `request path` or `<name> header` when undici would refuse it; null when it may be sent. */
function invalidPart(path: string, headers: Record<string, string>): string | null {
  if (INVALID_PATH.test(path)) {
    return 'request path';
  }
  for (const name in headers) {
    if (INVALID_HEADER_VALUE.test(headers[name])) {
      return `${name} header`;
    }
  }
  return null;
}

function joinPath(endpoint: Endpoint, path: string): string {
  const full = endpoint.prefix + path;
  if (endpoint.search.length === 0) {
    return full;
  }
  return full + (path.includes('?') ? '&' : '?') + endpoint.search;
}
