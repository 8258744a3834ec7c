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
  const limits = { stalledBytes: 1000, stalledMs: 50, maxBytes: 5000 };

  it('closes a stream whose client stopped reading once too much waits unread for too long', async () => {
    const raw = stuckClient();
    const sink = new FastifySseSink({ raw, request: { id: 'req_1' } } as unknown as FastifyReply, limits);
    for (let i = 0; i < 12; i++) {
      sink.write('x'.repeat(100));
    }
    // Over the stalled size, but the client took something recently: it may just be slow.
    expect(raw.destroyed).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    sink.write('x');
    expect(raw.destroyed).toBe(true);
    // Later writes are dropped quietly.
    sink.write('more');
  });

  it('closes a slow reader only past the hard cap', () => {
    const raw = stuckClient();
    const sink = new FastifySseSink({ raw, request: { id: 'req_2' } } as unknown as FastifyReply, limits);
    for (let i = 0; i < 50; i++) {
      sink.write('x'.repeat(100));
    }
    expect(raw.destroyed).toBe(false);
    sink.write('x'.repeat(100));
    expect(raw.destroyed).toBe(true);
  });
});
