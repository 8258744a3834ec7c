import type { Redis } from 'ioredis';

/**
 * Batches the commands one connection sends in one turn of the event loop into one socket write: the first command
 * of a turn corks the socket, a `setImmediate` (after every request handler and promise of the turn) uncorks it, and
 * Node writes what gathered with one `writev`. Under load, the jobs of every request parsed in one turn reach Redis
 * in one read (and their replies come back in one write); alone, a command leaves within the same turn.
 *
 * Cheaper than ioredis pipelines or MULTI (`addBulk`), which copy every custom command of the connection (BullMQ
 * defines ~50) on each construction: 150-200 µs each (ADR 0003). Every command keeps its own reply and error.
 * Only for connections without auto-pipelining (which batches by itself, but only the commands of one callback).
 */
export class TurnCork {
  /** The stream this cork holds until the end of the turn, or null; `turn` tells a stale uncork from the live one. */
  private corked: Redis['stream'] | null = null;
  private turn = 0;

  constructor(private readonly connection: Redis) {}

  /** Call before issuing a command; no effect while the connection is not ready (commands then wait offline). */
  hold(): void {
    if (this.corked !== null || this.connection.status !== 'ready') {
      return;
    }
    const stream = this.connection.stream;
    stream.cork();
    this.corked = stream;
    const turn = ++this.turn;
    setImmediate(() => {
      if (this.turn === turn) {
        this.release();
      }
    });
  }

  /**
   * Writes what gathered now instead of at the end of the turn (one `writev`): for a command whose latency matters
   * more than its batching (a stream's first event, `flushTurn`). A command later in the turn corks again.
   */
  release(): void {
    const stream = this.corked;
    if (stream === null) {
      return;
    }
    this.corked = null;
    this.turn++;
    stream.uncork();
  }
}

/** The cork of each connection `corkEveryCommand` set up, for `flushTurn`. */
const turnCorks = new WeakMap<Redis, TurnCork>();

/**
 * Sends now what `connection` gathered so far this turn (`corkEveryCommand`), rather than once the turn's callbacks
 * are done: a worker's turn that reads a whole short answer at once also builds its result, keeps its outcome and
 * completes its job before the end of the turn, and the first event of the stream waited for all of it. No effect
 * on a connection without the per-turn cork, or with nothing gathered. Costs one `writev` of its own.
 */
export function flushTurn(connection: Redis): void {
  turnCorks.get(connection)?.release();
}

/**
 * Corks `connection` for the rest of the turn before each command it sends (`createRedis`'s `corkPerTurn`), so that
 * the commands of every callback that runs in one turn of the event loop leave in one socket write. Auto-pipelining
 * only merges the commands of one callback (it flushes on `process.nextTick`), and under load a worker's turn runs
 * many: one per provider response, Redis reply and job it handles.
 */
export function corkEveryCommand(connection: Redis): void {
  const cork = new TurnCork(connection);
  turnCorks.set(connection, cork);
  const send = connection.sendCommand.bind(connection);
  connection.sendCommand = (command, stream) => {
    cork.hold();
    return send(command, stream);
  };
}
