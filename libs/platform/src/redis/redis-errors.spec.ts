import { EventEmitter } from 'node:events';
import { RedisErrors, type RedisOp } from './redis-errors';

function setup(): { errors: RedisErrors; ops: RedisOp[]; lines: string[]; clock: { t: number } } {
  const ops: RedisOp[] = [];
  const lines: string[] = [];
  const clock = { t: 1_000_000 };
  const errors = new RedisErrors(
    { warn: (m: string) => lines.push(`warn ${m}`), log: (m: string) => lines.push(`log ${m}`) },
    { inc: ({ op }) => ops.push(op) },
    () => clock.t,
  );
  return { errors, ops, lines, clock };
}

describe('RedisErrors', () => {
  it('counts every failure by op, logs the start and the end of an outage once each', () => {
    const { errors, ops, lines, clock } = setup();
    const conn = new EventEmitter();
    errors.watchConnection(conn, 'cmd');
    conn.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6390'));
    for (let i = 0; i < 50; i++) {
      clock.t += 100;
      conn.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6390'));
      errors.report('usage_enqueue', new Error('Connection is closed.'));
    }
    expect(ops.filter((o) => o === 'connection')).toHaveLength(51);
    expect(ops.filter((o) => o === 'usage_enqueue')).toHaveLength(50);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn Redis unavailable \(connection: .*ECONNREFUSED/);
    conn.emit('ready');
    expect(lines).toHaveLength(2);
    // At the outage's level: LOG_LEVEL=warn showed the outage and hid its end.
    expect(lines[1]).toBe('warn Redis is back after 5.0 s (101 failed commands or connection attempts)');
    // A reconnection without an outage (the first connect) logs nothing.
    conn.emit('ready');
    expect(lines).toHaveLength(2);
  });

  it('ends the outage only when every connection that dropped is ready again', () => {
    const { errors, lines } = setup();
    const a = new EventEmitter();
    const b = new EventEmitter();
    errors.watchConnection(a, 'a');
    errors.watchConnection(b, 'b');
    a.emit('error', new Error('down'));
    b.emit('error', new Error('down'));
    a.emit('ready');
    expect(errors.mark).toBeNull();
    b.emit('ready');
    expect(errors.mark).not.toBeNull();
    expect(lines.filter((l) => l.startsWith('warn Redis is back'))).toHaveLength(1);
  });

  it('gives work a mark that tells whether Redis failed while it ran', () => {
    const { errors, clock } = setup();
    const conn = new EventEmitter();
    errors.watchConnection(conn, 'cmd');
    const before = errors.mark;
    expect(before).not.toBeNull();
    expect(errors.failedWithin(60_000)).toBe(false);
    conn.emit('error', new Error('down'));
    expect(errors.mark).toBeNull();
    conn.emit('ready');
    expect(errors.mark).not.toBeNull();
    expect(errors.mark).not.toBe(before);
    expect(errors.failedWithin(60_000)).toBe(true);
    clock.t += 60_000;
    expect(errors.failedWithin(60_000)).toBe(false);
  });

  it('ends an outage of failed commands alone (no connection dropped) after a quiet spell', () => {
    const { errors, lines, clock } = setup();
    errors.report('circuit_read', new Error('LOADING Redis is loading the dataset in memory'));
    expect(errors.mark).toBeNull();
    clock.t += 29_999;
    expect(errors.mark).toBeNull();
    clock.t += 1;
    expect(errors.mark).not.toBeNull();
    expect(lines).toHaveLength(2);
    errors.report('circuit_read', new Error('again'));
    expect(lines).toHaveLength(3);
  });

  it('logs the end of an outage of failed commands when it goes quiet, not at the next failure', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const lines: string[] = [];
      const errors = new RedisErrors(
        { warn: (m: string) => lines.push(`warn ${m}`), log: (m: string) => lines.push(`log ${m}`) },
        undefined,
        () => Date.now(),
      );
      errors.report('cache', new Error('Command timed out'));
      jest.advanceTimersByTime(10_000);
      errors.report('cache', new Error('Command timed out'));
      jest.advanceTimersByTime(29_999);
      expect(lines).toHaveLength(1);
      jest.advanceTimersByTime(1);
      expect(lines).toEqual([expect.stringMatching(/^warn Redis unavailable/), expect.any(String)]);
      expect(lines[1]).toBe('warn Redis is back after 40.0 s (2 failed commands or connection attempts)');
      // Five minutes later, a new blip is a new outage of its own.
      jest.advanceTimersByTime(300_000);
      errors.report('cache', new Error('Command timed out'));
      jest.advanceTimersByTime(30_000);
      expect(lines.slice(2)).toEqual([
        expect.stringMatching(/^warn Redis unavailable/),
        'warn Redis is back after 30.0 s (1 failed commands or connection attempts)',
      ]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('says Redis is back when the mark does: a connection that never dropped coming ready ends neither', () => {
    const { errors, lines, clock } = setup();
    const conn = new EventEmitter();
    errors.watchConnection(conn, 'cmd');
    errors.report('circuit_read', new Error('Command timed out'));
    clock.t += 1_000;
    conn.emit('ready');
    expect(lines).toHaveLength(1);
    expect(errors.mark).toBeNull();
    clock.t += 29_000;
    expect(errors.mark).not.toBeNull();
    expect(lines[1]).toBe('warn Redis is back after 30.0 s (1 failed commands or connection attempts)');
  });

  it("logs and counts the response cache's failures, but leaves them out of the mark (they hold no lock)", () => {
    const { errors, ops, lines, clock } = setup();
    const cache = new EventEmitter();
    const cmd = new EventEmitter();
    errors.watchConnection(cache, 'cache', { apart: true });
    errors.watchConnection(cmd, 'cmd');
    const before = errors.mark;
    errors.report('cache', new Error('Command timed out'));
    cache.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6391'));
    expect(ops).toEqual(['cache', 'connection']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warn Redis unavailable \(cache: .*Command timed out\)/);
    expect(errors.mark).toBe(before);
    expect(errors.failedWithin(60_000)).toBe(false);
    // A failure of the queue's Redis during it still counts, and ends when its connection is back.
    cmd.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    expect(errors.mark).toBeNull();
    cmd.emit('ready');
    expect(errors.mark).not.toBeNull();
    expect(errors.mark).not.toBe(before);
    expect(errors.failedWithin(60_000)).toBe(true);
    // The cache coming back ends the logged outage; it never ended or started the other.
    const after = errors.mark;
    cache.emit('ready');
    expect(lines.at(-1)).toMatch(/^warn Redis is back/);
    clock.t += 60_000;
    expect(errors.mark).toBe(after);
    expect(errors.failedWithin(60_000)).toBe(false);
  });
});
