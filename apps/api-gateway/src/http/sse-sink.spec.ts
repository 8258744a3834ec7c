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

/** A client that keeps reading, `bytesPerMs` at a time: each write is acknowledged once that pace has taken it. */
function steadyReader(bytesPerMs: number, received: string[]): Writable {
  return new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk.toString());
      setTimeout(done, Math.ceil(chunk.length / bytesPerMs));
    },
  });
}

describe('FastifySseSink', () => {
  const limits = { stalledBytes: 1000, stalledMs: 50, maxBytes: 5000, writeBytes: 100 };

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

  it('keeps a reader that keeps reading, only slower than the stream is written, until the hard cap', async () => {
    // The socket never empties while the provider outpaces the reader, so 'drain' never fires: what it took must count.
    // The reader takes a write every 5 ms; the stall limit is far above that (a loaded host's timers run late), and the
    // writes go on for over twice as long, so a sink that counted only 'drain' would close it.
    const received: string[] = [];
    const raw = steadyReader(20, received);
    const sink = new FastifySseSink({ raw, request: { id: 'req_3' } } as unknown as FastifyReply, {
      stalledBytes: 1000,
      stalledMs: 250,
      maxBytes: 1_000_000,
      writeBytes: 100,
    });
    const ended = new Promise((r) => raw.on('finish', r));
    for (let i = 0; i < 300; i++) {
      sink.write(String(i % 10).repeat(100));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(raw.destroyed).toBe(false);
    sink.end();
    await ended;
    // Everything reached the client, in order.
    const expected = Array.from({ length: 300 }, (_, i) => String(i % 10).repeat(100)).join('');
    expect(received.join('')).toBe(expected);
  });
});
