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
}

export const SSE_UNREAD_LIMITS: UnreadLimits = {
  stalledBytes: 4 * 1024 * 1024,
  stalledMs: 10_000,
  maxBytes: 32 * 1024 * 1024,
};

const logger = new Logger('SseSink');

/** Writes SSE straight to the socket: the reply is hijacked from Fastify when the stream opens. */
export class FastifySseSink implements StreamSink {
  /** `performance.now()` when the client last took what was buffered (or the stream opened). */
  private drainedAt = performance.now();

  constructor(
    private readonly reply: FastifyReply,
    private readonly limits: UnreadLimits = SSE_UNREAD_LIMITS,
  ) {}

  open(headers: Record<string, string>): void {
    // Headers set through Fastify so far (x-request-id) are not written by a hijacked reply: carry them over.
    const carried = this.reply.getHeaders() as OutgoingHttpHeaders;
    this.reply.hijack();
    this.drainedAt = performance.now();
    this.reply.raw.on('drain', () => {
      this.drainedAt = performance.now();
    });
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
    if (raw.write(data)) {
      return;
    }
    const unread = raw.writableLength;
    if (unread <= this.limits.stalledBytes) {
      return;
    }
    if (unread > this.limits.maxBytes || performance.now() - this.drainedAt > this.limits.stalledMs) {
      logger.warn(
        `request ${String(this.reply.request.id)}: the client left ${unread} bytes of its stream unread; closing it`,
      );
      // 'close' fires: the relay abandons the stream as if the client had gone.
      raw.destroy();
    }
  }

  end(): void {
    const raw = this.reply.raw;
    if (!raw.writableEnded) {
      raw.end();
    }
  }
}
