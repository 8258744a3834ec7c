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

/** `steadyReader`, keeping the bytes as they came: a write may end inside a multi-byte character. */
function steadyByteReader(bytesPerMs: number, received: Buffer[]): Writable {
  return new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk);
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

  // A single event can be longer than a slow reader takes in `stalledMs` (a provider that sends a long answer or tool
  // call in one chunk, a cache hit replayed in one piece): handed to the socket whole, its one callback came only once
  // the client had taken all of it, and any write meanwhile found the client "stalled" and cut it, though it read on.
  it('keeps a steady reader of one event longer than it reads in the stall time', async () => {
    const received: Buffer[] = [];
    const raw = steadyByteReader(20, received);
    const sink = sinkOver(raw, {
      stalledBytes: 1000,
      stalledMs: 250,
      maxBytes: 1_000_000,
      writeBytes: 100,
      endedIdleMs: 250,
    });
    // 12,000 bytes: 600 ms at this pace, over twice the stall time. Multi-byte characters across the slices' edges.
    const long = 'é€😀'.repeat(1_000) + 'x'.repeat(3_000);
    const ended = new Promise((r) => raw.on('finish', r));
    sink.write(long);
    const after: string[] = [];
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 4));
      after.push(String(i % 10).repeat(10));
      sink.write(after[i]);
    }
    expect(raw.destroyed).toBe(false);
    sink.end();
    await ended;
    expect(Buffer.concat(received).toString()).toBe(long + after.join(''));
    // Each write a sign of life: none longer than `writeBytes`.
    expect(Math.max(...received.map((r) => r.length))).toBeLessThanOrEqual(100);
  });

  // A stream quiet for longer than the stall time (a provider thinking) whose next event is a large one: the client had
  // taken everything before it, so it is not stalled, however long ago its last write was.
  it('does not count the quiet before a burst as the client stalling', async () => {
    const received: string[] = [];
    const raw = steadyReader(20, received);
    const sink = sinkOver(raw, {
      stalledBytes: 1000,
      stalledMs: 250,
      maxBytes: 1_000_000,
      writeBytes: 100,
      endedIdleMs: 250,
    });
    sink.write('first');
    await new Promise((r) => setTimeout(r, 400));
    const burst = Array.from({ length: 30 }, (_, i) => String(i % 10).repeat(100));
    for (const text of burst) {
      sink.write(text);
    }
    expect(raw.destroyed).toBe(false);
    const ended = new Promise((r) => raw.on('finish', r));
    sink.end();
    await ended;
    expect(received.join('')).toBe('first' + burst.join(''));
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
