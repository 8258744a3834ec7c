import { Writable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { FastifySseSink } from './sse-sink';

/** A client socket that takes the first write and then never reads again. */
function stuckClient(): Writable {
  return new Writable({
    highWaterMark: 16,
    write(_chunk, _encoding, _done) {
      // Never acknowledged: everything after the first chunk waits in the buffer.
    },
  });
}

describe('FastifySseSink', () => {
  it('closes a stream whose client stops reading once too much waits unread, and only then', () => {
    const raw = stuckClient();
    const sink = new FastifySseSink({ raw, request: { id: 'req_1' } } as unknown as FastifyReply, 1000);
    for (let i = 0; i < 9; i++) {
      sink.write('x'.repeat(100));
    }
    expect(raw.destroyed).toBe(false);
    sink.write('x'.repeat(200));
    expect(raw.destroyed).toBe(true);
    // Later writes are dropped quietly.
    sink.write('more');
    expect(raw.writableLength).toBeGreaterThan(1000);
  });
});
