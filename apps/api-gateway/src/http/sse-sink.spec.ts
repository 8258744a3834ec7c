import { Writable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { FastifySseSink, type UnreadLimits } from './sse-sink';

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

/** Resolves once `raw` is destroyed; fails the test if that takes longer than a few seconds. */
async function destroyedSoon(raw: Writable): Promise<void> {
  for (let waited = 0; !raw.destroyed; waited += 10) {
    if (waited > 5_000) {
      throw new Error('the stream was not closed');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sinkOver(raw: Writable, limits: UnreadLimits): FastifySseSink {
  return new FastifySseSink({ raw, request: { requestId: 'req_end' } } as unknown as FastifyReply, limits);
}

describe('FastifySseSink', () => {
  const limits = { stalledBytes: 1000, stalledMs: 50, maxBytes: 5000, writeBytes: 100, endedIdleMs: 60_000 };

  it('closes a stream whose client stopped reading once too much waits unread for too long', async () => {
    const raw = stuckClient();
    const sink = new FastifySseSink({ raw, request: { requestId: 'req_1' } } as unknown as FastifyReply, limits);
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
    const sink = new FastifySseSink({ raw, request: { requestId: 'req_2' } } as unknown as FastifyReply, limits);
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
    const sink = new FastifySseSink({ raw, request: { requestId: 'req_3' } } as unknown as FastifyReply, {
      stalledBytes: 1000,
      stalledMs: 250,
      maxBytes: 1_000_000,
      writeBytes: 100,
      endedIdleMs: 250,
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

  // Once the stream has ended no write comes to apply the limits: the sink must watch the rest itself, or a client
  // that stopped reading keeps its connection and the unread rest for as long as it stays connected.
  it('closes a stream that ended while its client was behind once the client takes nothing for too long', async () => {
    const raw = stuckClient();
    const sink = sinkOver(raw, { ...limits, stalledMs: 60_000, endedIdleMs: 50 });
    for (let i = 0; i < 5; i++) {
      sink.write('x'.repeat(100));
    }
    sink.end();
    expect(raw.destroyed).toBe(false);
    await destroyedSoon(raw);
  });

  it('closes an ended stream sooner when more than the stalled size is left unread', async () => {
    const raw = stuckClient();
    const sink = sinkOver(raw, { ...limits, endedIdleMs: 60_000 });
    for (let i = 0; i < 20; i++) {
      sink.write('x'.repeat(100));
    }
    sink.end();
    await destroyedSoon(raw);
  });

  it('closes an ended stream whose last write the client never took', async () => {
    const raw = stuckClient();
    const sink = sinkOver(raw, { ...limits, stalledMs: 60_000, endedIdleMs: 50 });
    sink.write('x'.repeat(100));
    sink.end();
    await destroyedSoon(raw);
  });

  it('ends the stream once a slow reader has taken everything left after the end', async () => {
    const received: string[] = [];
    const raw = steadyReader(20, received);
    const sink = sinkOver(raw, { ...limits, stalledMs: 60_000, endedIdleMs: 60_000 });
    const finished = new Promise((r) => raw.on('finish', r));
    const sent = Array.from({ length: 30 }, (_, i) => String(i % 10).repeat(100));
    for (const text of sent) {
      sink.write(text);
    }
    sink.end();
    await finished;
    // Ended, not cut: everything reached the client, in order.
    expect(received.join('')).toBe(sent.join(''));
  });
});
