import { type OutgoingHttpHeaders } from 'node:http';
import { type SimulatorConfig } from './config';
import { type Exchange } from './exchange';
import { type Fault, wantsRetryAfter } from './faults';
import { addRateLimitHeaders, type WireHeaders } from './headers';
import { type StatsRecorder } from './stats';
import { type Rendering, type WireFormat } from './wire';

type StreamEnding = { kind: 'end' } | { kind: 'drop' } | { kind: 'broken' } | { kind: 'error'; status: number };

export interface ResponderDeps {
  config(): SimulatorConfig;
  later(ms: number, fn: () => void): void;
  stats: StatsRecorder;
  headers: Record<WireFormat['name'], WireHeaders>;
}

/** Writes answers, errors and injected faults in a provider's wire format. */
export class Responder {
  constructor(private readonly deps: ResponderDeps) {}

  private headersFor(ex: Exchange, wire: WireFormat, kind: 'json' | 'sse'): OutgoingHttpHeaders {
    const h = this.deps.headers[wire.name];
    const out: OutgoingHttpHeaders =
      h.idHeader === undefined ? { ...h[kind] } : { ...h[kind], [h.idHeader]: ex.requestId };
    addRateLimitHeaders(out, wire.name, this.deps.config().rateLimit, Date.now());
    return out;
  }

  json(ex: Exchange, wire: WireFormat, body: string): void {
    ex.send(200, this.headersFor(ex, wire, 'json'), body);
  }

  error(ex: Exchange, wire: WireFormat, status: number, message?: string, param?: string | null): void {
    const headers = { ...this.headersFor(ex, wire, 'json'), ...this.deps.config().errorHeaders };
    const retryAfter = wantsRetryAfter(status) ? this.deps.config().retryAfterS : null;
    if (retryAfter !== null && wire.retryAfterInBody !== true) {
      headers['retry-after'] = String(retryAfter);
    }
    ex.send(status, headers, wire.errorBody(status, message, param, retryAfter));
  }

  /** A 200 event stream that holds only `body` (a provider reporting a bad request inside its stream). */
  streamBody(ex: Exchange, wire: WireFormat, body: string): void {
    ex.send(200, this.headersFor(ex, wire, 'sse'), body);
  }

  /** A JSON (non-stream) answer, or the fault planned for it. */
  jsonReply(ex: Exchange, wire: WireFormat, body: () => string, fault: Fault | null): void {
    if (ex.gone) {
      return;
    }
    if (fault === null) {
      this.json(ex, wire, body());
      return;
    }
    switch (fault.kind) {
      case 'status':
      case 'error_mid_stream':
        // A JSON answer has no "middle" to fail in; it fails as a plain error response.
        this.error(ex, wire, fault.status);
        return;
      case 'drop':
        ex.drop();
        return;
      case 'hang':
        return;
      case 'malformed': {
        const full = body();
        this.json(ex, wire, full.slice(0, Math.floor(full.length / 2)));
        return;
      }
      case 'drop_mid_stream': {
        // Promise the full length, deliver half: the client sees a truncated body, not a short one.
        const full = body();
        const headers = this.headersFor(ex, wire, 'json');
        headers['content-length'] = Buffer.byteLength(full);
        ex.res.writeHead(200, headers);
        ex.dropAfter(full.slice(0, Math.floor(full.length / 2)));
        return;
      }
    }
  }

  /** An SSE answer of `tokens` content chunks, or the fault planned for it. */
  streamReply(ex: Exchange, wire: WireFormat, r: Rendering, tokens: number, fault: Fault | null): void {
    if (fault === null) {
      this.stream(ex, wire, r, tokens, { kind: 'end' });
      return;
    }
    const upTo = (after: number): number => Math.min(after, tokens);
    switch (fault.kind) {
      case 'status':
        this.error(ex, wire, fault.status);
        return;
      case 'drop':
        ex.drop();
        return;
      case 'hang':
        return;
      case 'malformed':
        this.stream(ex, wire, r, upTo(fault.afterChunks), { kind: 'broken' });
        return;
      case 'drop_mid_stream':
        this.stream(ex, wire, r, upTo(fault.afterChunks), { kind: 'drop' });
        return;
      case 'error_mid_stream':
        this.stream(ex, wire, r, upTo(fault.afterChunks), { kind: 'error', status: fault.status });
        return;
    }
  }

  private stream(ex: Exchange, wire: WireFormat, r: Rendering, count: number, ending: StreamEnding): void {
    if (ex.gone) {
      return;
    }
    this.deps.stats.streamStarted();
    ex.res.writeHead(200, this.headersFor(ex, wire, 'sse'));
    const delay = this.deps.config().chunkDelayMs;
    if (delay <= 0) {
      // The fast path: the whole stream in one write.
      let out = r.streamStart();
      for (let i = 0; i < count; i++) {
        out += r.streamToken(i);
      }
      this.finish(ex, r, out, ending);
      return;
    }
    let next = 0;
    const step = (pending: string): void => {
      if (ex.gone) {
        return;
      }
      const out = next < count ? pending + r.streamToken(next++) : pending;
      if (next >= count) {
        this.finish(ex, r, out, ending);
        return;
      }
      ex.res.write(out);
      this.deps.later(delay, () => step(''));
    };
    step(r.streamStart());
  }

  private finish(ex: Exchange, r: Rendering, out: string, ending: StreamEnding): void {
    switch (ending.kind) {
      case 'end':
        ex.res.end(out + r.streamEnd());
        return;
      case 'broken':
        ex.res.end(out + r.streamBroken());
        return;
      case 'error':
        ex.res.end(out + r.streamError(ending.status));
        return;
      case 'drop':
        ex.dropAfter(out);
        return;
    }
  }
}
