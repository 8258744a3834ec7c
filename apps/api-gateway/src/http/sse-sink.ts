import { Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import type { StreamSink } from '../generation/stream-relay';

/**
 * How much SSE may wait unread in a client's socket buffer. Workers relay through Redis pub/sub, which has no flow
 * control: a client that stops reading would otherwise make the gateway buffer the whole answer (10 MB for a
 * 100,000-token one, per stream). Past `stalledBytes` a client that has not taken anything for `stalledMs` is treated
 * as gone (the connection is closed, the job cancelled, what was generated billed); a reader that keeps reading, only
 * slower than the provider writes, is cut only past `maxBytes`.
 */
export interface UnreadLimits {
  stalledBytes: number;
  stalledMs: number;
  maxBytes: number;
  /**
   * At most this much SSE (one write at least) is handed to a socket in one write while the client is behind: each
   * write's callback is a sign of life, and a bigger write would take a slow reader longer than `stalledMs`.
   */
  writeBytes: number;
  /**
   * Once the stream has ended, a client that takes nothing of what is left for this long is gone, however little is
   * left (as Node closes a keep-alive connection idle for `keepAliveTimeout` once its response is out). No later write
   * would come to apply the limits above, and the socket has no timeout of its own: without this a client that
   * stopped reading kept its connection and the unread rest of its answer (up to `maxBytes`) for as long as it
   * stayed connected.
   */
  endedIdleMs: number;
}

export const SSE_UNREAD_LIMITS: UnreadLimits = {
  stalledBytes: 4 * 1024 * 1024,
  stalledMs: 10_000,
  maxBytes: 32 * 1024 * 1024,
  writeBytes: 64 * 1024,
  endedIdleMs: 60_000,
};

const logger = new Logger('SseSink');

/**
 * Writes SSE straight to the socket: the reply is hijacked from Fastify when the stream opens.
 *
 * At most one write is handed to the socket at a time; what comes meanwhile waits here, and each write's callback
 * hands over the next one. The callbacks are what tells a slow reader from a stuck one: a socket whose client reads
 * slower than the provider writes never empties, so it never emits 'drain', and Node hands it everything buffered in
 * one `writev` whose callback comes only once the client took all of it (seconds to minutes behind a slow reader).
 * A client that keeps up never has anything waiting here: each write completes before the next reply message comes.
 */
export class FastifySseSink implements StreamSink {
  /** `performance.now()` when the client last took a write (or the stream opened). */
  private drainedAt = performance.now();
  /** A write is with the socket and its callback has not come yet. */
  private writing = false;
  /**
   * SSE waiting for the socket to take the write before it (from `next`), each with its size in bytes: text, or a
   * slice of a long event's bytes (`write`).
   */
  private readonly waiting: (string | Buffer)[] = [];
  private readonly sizes: number[] = [];
  private next = 0;
  private waitingBytes = 0;
  /** `end()` came while the client was behind: the stream ends once it has taken what waits. */
  private ending = false;
  /** Checks, once the stream has ended, that a client still behind keeps taking what is left. */
  private watch: NodeJS.Timeout | undefined;

  constructor(
    private readonly reply: FastifyReply,
    private readonly limits: UnreadLimits = SSE_UNREAD_LIMITS,
  ) {}

  open(headers: Record<string, string>): void {
    // Headers set through Fastify so far (x-request-id) are not written by a hijacked reply: carry them over.
    const carried = this.reply.getHeaders() as OutgoingHttpHeaders;
    this.reply.hijack();
    this.drainedAt = performance.now();
    // One Object.assign, not `{ ...carried, ...headers, … }` (slow on Node 20: libs/core objects.ts).
    const head: OutgoingHttpHeaders = Object.assign({}, carried, headers, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    if (this.reply.server.closing) {
      // As Fastify's own answers say while the server closes (libs/platform closing.ts): the client's next request
      // goes to another replica instead of onto a connection the drain resets once the stream ends.
      head.connection = 'close';
    }
    this.reply.raw.writeHead(200, head);
  }

  write(data: string): void {
    const raw = this.reply.raw;
    if (raw.destroyed || raw.writableEnded) {
      return;
    }
    const { writeBytes } = this.limits;
    if (data.length > writeBytes) {
      // One event longer than a write (a provider's answer or tool call sent in one chunk, a cache hit replayed whole):
      // handed over whole, its one callback would come only once the client had taken all of it, longer than
      // `stalledMs` for a slow reader, and a write meanwhile would cut a client that reads on. It goes in slices of
      // bytes instead, each one a sign of life (the client's parser joins them; a slice may end inside a character).
      const bytes = Buffer.from(data);
      for (let at = 0; at < bytes.length && !raw.destroyed; at += writeBytes) {
        this.add(bytes.subarray(at, at + writeBytes));
      }
      return;
    }
    this.add(data);
  }

  private add(data: string | Buffer): void {
    const raw = this.reply.raw;
    if (!this.writing) {
      this.writing = true;
      // Nothing was waiting: the client had taken everything. However long the stream was quiet (a provider
      // thinking), the client is behind from now on at the earliest, not since its last write's callback.
      this.drainedAt = performance.now();
      raw.write(data, this.written);
      return;
    }
    // Only when the client is behind: the byte count costs a pass over the text.
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.waiting.push(data);
    this.sizes.push(size);
    this.waitingBytes += size;
    const unread = this.waitingBytes + raw.writableLength;
    if (unread <= this.limits.stalledBytes) {
      return;
    }
    if (unread > this.limits.maxBytes || performance.now() - this.drainedAt > this.limits.stalledMs) {
      this.cut(unread);
    }
  }

  /** Closes the connection of a client that stopped reading. */
  private cut(unread: number): void {
    logger.warn(
      `request ${this.reply.request.requestId}: the client left ${unread} bytes of its stream unread; closing it`,
    );
    this.clearWaiting();
    this.stopWatching();
    // 'close' fires: the relay abandons the stream as if the client had gone.
    this.reply.raw.destroy();
  }

  /** The socket took the last write: the client is reading. Hands it what waited meanwhile, up to `writeBytes`. */
  private readonly written = (err?: Error | null): void => {
    this.writing = false;
    const raw = this.reply.raw;
    if (err || raw.destroyed) {
      this.stopWatching();
      return;
    }
    this.drainedAt = performance.now();
    if (this.next === this.waiting.length || raw.writableEnded) {
      if (this.ending) {
        this.finish();
      }
      return;
    }
    const from = this.next;
    let bytes = this.sizes[from];
    let to = from + 1;
    while (to < this.waiting.length && bytes + this.sizes[to] <= this.limits.writeBytes) {
      bytes += this.sizes[to];
      to++;
    }
    const text = to === from + 1 ? this.waiting[from] : joined(this.waiting.slice(from, to));
    this.waitingBytes -= bytes;
    if (to === this.waiting.length) {
      this.clearWaiting();
    } else {
      this.next = to;
    }
    this.writing = true;
    raw.write(text, this.written);
  };

  private clearWaiting(): void {
    this.waiting.length = 0;
    this.sizes.length = 0;
    this.next = 0;
    this.waitingBytes = 0;
  }

  end(): void {
    const raw = this.reply.raw;
    if (raw.writableEnded || this.ending) {
      return;
    }
    if (this.next < this.waiting.length && !raw.destroyed) {
      // The client is behind: what waits goes on write by write as it reads, as before the end, and the response
      // ends after it. Handed to the socket at once, it stayed there (with the connection) for as long as the client
      // stayed connected without reading.
      this.ending = true;
      this.watchEnding();
      return;
    }
    this.finish();
  }

  private finish(): void {
    this.ending = false;
    this.clearWaiting();
    const raw = this.reply.raw;
    raw.end();
    if (raw.writableLength > 0 && !raw.destroyed) {
      // Even the end did not fit in the socket's buffer: the client still has to take it.
      this.watchEnding();
    } else {
      this.stopWatching();
    }
  }

  /** Until the response is out, cuts a client that takes nothing for too long (see `endedIdleMs`). */
  private watchEnding(): void {
    if (this.watch !== undefined) {
      return;
    }
    const check = (): void => {
      this.watch = undefined;
      const raw = this.reply.raw;
      if (raw.destroyed || raw.writableFinished) {
        return;
      }
      const idle = performance.now() - this.drainedAt;
      const unread = this.waitingBytes + raw.writableLength;
      const limit = unread > this.limits.stalledBytes ? this.limits.stalledMs : this.limits.endedIdleMs;
      if (idle >= limit) {
        this.cut(unread);
        return;
      }
      this.watch = setTimeout(check, limit - idle).unref();
    };
    check();
  }

  private stopWatching(): void {
    if (this.watch !== undefined) {
      clearTimeout(this.watch);
      this.watch = undefined;
    }
  }
}

/** Writes as one: text stays text unless a slice of bytes is among them. */
function joined(pieces: (string | Buffer)[]): string | Buffer {
  if (pieces.every((p) => typeof p === 'string')) {
    return pieces.join('');
  }
  return Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}
