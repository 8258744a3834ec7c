import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import type { StreamSink } from '../generation/stream-relay';

/** Writes SSE straight to the socket: the reply is hijacked from Fastify when the stream opens. */
export class FastifySseSink implements StreamSink {
  constructor(private readonly reply: FastifyReply) {}

  open(headers: Record<string, string>): void {
    // Headers set through Fastify so far (x-request-id) are not written by a hijacked reply: carry them over.
    const carried = this.reply.getHeaders() as OutgoingHttpHeaders;
    this.reply.hijack();
    // One Object.assign, not `{ ...carried, ...headers, … }` (slow on Node 20: libs/core objects.ts).
    this.reply.raw.writeHead(
      200,
      Object.assign({}, carried, headers, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      }),
    );
  }

  write(data: string): void {
    const raw = this.reply.raw;
    if (!raw.destroyed && !raw.writableEnded) {
      raw.write(data);
    }
  }

  end(): void {
    const raw = this.reply.raw;
    if (!raw.writableEnded) {
      raw.end();
    }
  }
}
