import { ErrorClass, ProviderCallError, type StreamDelta, merged } from '@aigw/core';
import { classifyHttpFailure } from '../errors/classify';
import { detailFromBody, safeMessage } from '../errors/provider-message';
import { NdjsonParser } from '../sse/ndjson-parser';
import { type SseEvent, SseParser } from '../sse/sse-parser';
import type { AdapterTarget } from '../types';
import { CallDeadline } from './deadline';
import type { ResponseHeaders } from './headers';
import type { HttpCall, HttpPool, HttpResponse } from './http-pool';
import type { CallerSignal } from './caller-signal';

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

function tooLarge(res: HttpResponse, maxBytes: number): ProviderCallError {
  return new ProviderCallError(
    ErrorClass.Provider,
    `upstream HTTP ${res.statusCode}: response body is larger than ${mib(maxBytes)}`,
    { status: res.statusCode },
  );
}

/**
 * A 2xx body as text, failing once it passes `maxBytes` (at once when its Content-Length says it will): the body is
 * then destroyed, and with it the socket, so the rest is never read.
 *
 * Read through its events rather than `for await`: a stream's async iterator (an async generator, an end-of-stream
 * watcher and a promise per chunk) costs about twice what the listeners do, on every non-streamed call. The outcomes
 * are the iterator's: the body's error as it is, and a close before its end as ERR_STREAM_PREMATURE_CLOSE.
 */
function readBody(res: HttpResponse, maxBytes: number): Promise<string> {
  const body = res.body;
  if (Number(res.headers['content-length']) > maxBytes) {
    body.on('error', ignore).destroy();
    return Promise.reject(tooLarge(res, maxBytes));
  }
  return new Promise<string>((resolve, reject) => {
    if (body.errored) {
      reject(body.errored);
      return;
    }
    if (body.destroyed) {
      reject(prematureClose());
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    body.on('data', (chunk: Buffer) => {
      if (settled) {
        return;
      }
      total += chunk.length;
      if (total > maxBytes) {
        settled = true;
        body.destroy();
        reject(tooLarge(res, maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => {
      if (!settled) {
        settled = true;
        resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, total).toString('utf8'));
      }
    });
    // Stays attached once settled: an error after the answer was read has nobody else to go to.
    body.on('error', (err: Error) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    body.once('close', () => {
      if (!settled) {
        settled = true;
        reject(body.errored ?? prematureClose());
      }
    });
  });
}

/** What a stream's async iterator throws when the stream closes before its end. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** Error bodies beyond this are not kept (only the start holds the message)... */
const ERROR_BODY_KEEP_BYTES = 16 * 1024;
/** ...and beyond this not even drained: tearing the socket down is cheaper than reading more. */
const ERROR_BODY_DRAIN_BYTES = 1024 * 1024;
/** What may follow a stream's terminal event and still be read so the socket can be reused. */
const STREAM_TAIL_DRAIN_BYTES = 64 * 1024;

async function readErrorBody(res: HttpResponse): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (keptBytes < ERROR_BODY_KEEP_BYTES) {
      kept.push(chunk);
      keptBytes += chunk.length;
    }
    if (total > ERROR_BODY_DRAIN_BYTES) {
      break; // leaving the loop destroys the body, and with it the socket
    }
  }
  const all = kept.length === 1 ? kept[0] : Buffer.concat(kept);
  return all.toString('utf8', 0, Math.min(all.length, ERROR_BODY_KEEP_BYTES));
}

/**
 * Send a call and return the response when it is 2xx (`target.observe` sees it first, whatever its status). Any other status is read to the end (so the keep-alive
 * socket stays usable) and thrown as a classified ProviderCallError.
 */
export async function openCall(
  pool: HttpPool,
  target: AdapterTarget,
  call: HttpCall,
  deadline: CallDeadline,
): Promise<HttpResponse> {
  const res = await pool.request(target, call, deadline);
  target.observe?.(res.statusCode, res.headers);
  if (res.statusCode >= 200 && res.statusCode < 300) {
    return res;
  }
  const text = await readErrorBody(res);
  throw classifyHttpFailure(res.statusCode, res.headers, text, target.apiKey);
}

/**
 * Turns a parsed 2xx JSON body into the adapter's result; throws ProviderCallError when the body is unusable. `apiKey`
 * is the key the call sent: a provider or proxy may echo it in an error object of a 200 body, and its message goes
 * through `safeMessage` with it.
 */
export type JsonReader<T> = (json: unknown, headers: ResponseHeaders, status: number, apiKey: string | undefined) => T;

/** A whole request/response call under one deadline (`target.timeoutMs` or the caller's signal, first wins). */
export async function jsonCall<T>(
  pool: HttpPool,
  target: AdapterTarget,
  call: HttpCall,
  signal: CallerSignal,
  read: JsonReader<T>,
): Promise<T> {
  const deadline = new CallDeadline(signal, target.timeoutMs);
  try {
    const res = await openCall(pool, target, call, deadline);
    const text = await readBody(res, pool.limits.maxResponseBytes);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ProviderCallError(ErrorClass.Provider, `upstream HTTP ${res.statusCode}: response body is not JSON`, {
        status: res.statusCode,
        cause: err,
      });
    }
    return read(json, res.headers, res.statusCode, target.apiKey);
  } catch (err) {
    throw deadline.classify(err, target.apiKey);
  } finally {
    deadline.dispose();
  }
}

/**
 * A GET of `path` on the target's origin (not under its baseUrl's path) that only has to succeed: health endpoints
 * such as llama.cpp's and vLLM's `/health` live beside `/v1`. The body is read and ignored. The baseUrl's query
 * (Azure's `api-version`) goes with it, as with every call, unless `path` has a query of its own.
 */
export async function originCall(
  pool: HttpPool,
  target: AdapterTarget,
  path: string,
  signal: CallerSignal,
  headers: Record<string, string> = {},
): Promise<void> {
  const deadline = new CallDeadline(signal, target.timeoutMs);
  try {
    // The pool keys its sockets by origin, so this shares the provider's pool (an invalid URL fails in the pool).
    const url = URL.canParse(target.baseUrl) ? new URL(target.baseUrl) : undefined;
    const origin = url === undefined ? target.baseUrl : path.includes('?') ? url.origin : url.origin + url.search;
    const res = await openCall(pool, merged(target, { baseUrl: origin }), { method: 'GET', path, headers }, deadline);
    await res.body.dump();
  } catch (err) {
    throw deadline.classify(err, target.apiKey);
  } finally {
    deadline.dispose();
  }
}

/** Maps one wire format's SSE events to deltas. Holds per-stream state, so one instance per call. */
export interface StreamDecoder {
  /** Name of the event that ends a complete stream, for the error when it never comes. */
  readonly terminal: string;
  /** How events are framed: server-sent events (the default) or newline-delimited JSON (each line one event). */
  readonly framing?: 'sse' | 'ndjson';
  /** Push the deltas this event yields; return true on the terminal event. Throw ProviderCallError on in-band errors. */
  onEvent(event: SseEvent, out: StreamDelta[]): boolean;
  /**
   * For formats without a terminal event (Gemini ends its stream by closing it): called when the body ended before
   * `onEvent` returned true; true when what arrived is a whole answer (say, a finish reason was seen).
   */
  complete?(): boolean;
}

/**
 * A streamed call. The timeout is an idle timeout here: it restarts whenever bytes arrive. Leaving the loop early
 * (or an abort) destroys the response and with it the socket, so the provider stops generating for nobody.
 */
export async function* streamCall(
  pool: HttpPool,
  target: AdapterTarget,
  call: HttpCall,
  signal: CallerSignal,
  decoder: StreamDecoder,
): AsyncGenerator<StreamDelta, void, undefined> {
  const deadline = new CallDeadline(signal, target.timeoutMs);
  let res: HttpResponse | undefined;
  let completed = false;
  try {
    res = await openCall(pool, target, call, deadline);
    deadline.refresh();
    if (isJson(res.headers)) {
      throw await jsonInsteadOfStream(res, target.apiKey);
    }
    const parser = decoder.framing === 'ndjson' ? new NdjsonParser() : new SseParser();
    const events: SseEvent[] = [];
    const deltas: StreamDelta[] = [];
    // One per stream, reused by every read.
    const decoded: Decoded = { completed: false, error: undefined };
    const { maxStreamEventBytes } = pool.limits;
    // The body is released by hand in `finally` (drained or destroyed), not by the iterator.
    const chunks = res.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    for await (const chunk of chunks) {
      deadline.refresh();
      parser.feed(chunk, events);
      if (events.length > 0) {
        decodeAll(decoder, events, deltas, decoded);
        completed = decoded.completed;
        for (let i = 0; i < deltas.length; i++) {
          yield deltas[i];
        }
        deltas.length = 0;
        if (decoded.error !== undefined) {
          throw decoded.error;
        }
        if (completed) {
          break;
        }
      }
      // After the events before it went out. Counted in characters, as the parser holds them: at most two bytes each.
      if (parser.pendingLength > maxStreamEventBytes) {
        throw new ProviderCallError(
          ErrorClass.Provider,
          `upstream HTTP ${res.statusCode}: a stream event is larger than ${mib(maxStreamEventBytes)}`,
          { status: res.statusCode },
        );
      }
    }
    if (!completed) {
      parser.end(events);
      decodeAll(decoder, events, deltas, decoded);
      completed = decoded.completed;
      yield* deltas;
      if (decoded.error !== undefined) {
        throw decoded.error;
      }
    }
    if (!completed && decoder.complete?.() === true) {
      completed = true;
    }
    if (!completed) {
      throw new ProviderCallError(ErrorClass.Network, `stream ended before ${decoder.terminal}`, {
        status: res.statusCode,
      });
    }
  } catch (err) {
    throw deadline.classify(err, target.apiKey);
  } finally {
    release(res, deadline, completed);
  }
}

function isJson(headers: ResponseHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/json');
}

/** Some proxies answer a streaming request with a 200 JSON error body instead of an event stream. */
async function jsonInsteadOfStream(res: HttpResponse, apiKey: string | undefined): Promise<ProviderCallError> {
  const detail = detailFromBody(await readErrorBody(res));
  return new ProviderCallError(
    ErrorClass.Provider,
    `upstream HTTP ${res.statusCode} answered a stream request with JSON: ${safeMessage(detail.message, apiKey)}`,
    { status: res.statusCode },
  );
}

interface Decoded {
  /** The terminal event was seen. */
  completed: boolean;
  /** An in-band error (or an unreadable event) that ends the stream once the deltas before it went out. */
  error: Error | undefined;
}

/**
 * Feed a batch of events to the decoder (emptying the batch), into `out`. One read often holds the last deltas and
 * the error event that follows them: the error is recorded, not thrown, so the deltas decoded before it still reach
 * the client (and its bill) ahead of it.
 */
function decodeAll(decoder: StreamDecoder, events: SseEvent[], deltas: StreamDelta[], out: Decoded): void {
  try {
    for (let i = 0; i < events.length && !out.completed; i++) {
      out.completed = decoder.onEvent(events[i], deltas);
    }
  } catch (err) {
    // Decoders throw ProviderCallError; anything else is a bug of theirs, kept as the cause.
    out.completed = false;
    out.error = err instanceof Error ? err : new Error('stream decoder failed', { cause: err });
  } finally {
    events.length = 0;
  }
}

function ignore(): void {}

function release(res: HttpResponse | undefined, deadline: CallDeadline, completed: boolean): void {
  const body = res?.body;
  if (body === undefined || body.destroyed || body.readableEnded) {
    deadline.dispose();
    return;
  }
  if (!completed) {
    // Nobody listens to the body any more; the abort error its destruction emits has nowhere useful to go.
    body.on('error', ignore).destroy();
    deadline.dispose();
    return;
  }
  // The terminal event is in; the response's last bytes are at most a packet away. Reading them in the background
  // returns the socket to the pool without making the consumer wait. The deadline still bounds the wait: undici
  // keeps listening to it until the body closes, and destroys the body when it fires.
  const done = (): void => deadline.dispose();
  body.dump({ limit: STREAM_TAIL_DRAIN_BYTES }).then(done, done);
}
