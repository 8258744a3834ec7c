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
  /** The socket corked in this turn, or null. */
  private corked: { uncork(): void } | null = null;
  private readonly release = (): void => this.flush();

  constructor(private readonly connection: Redis) {}

  /** Call before issuing a command; no effect while the connection is not ready (commands then wait offline). */
  hold(): void {
    if (this.corked !== null || this.connection.status !== 'ready') {
      return;
    }
    const stream = this.connection.stream;
    stream.cork();
    this.corked = stream;
    setImmediate(this.release);
  }

  /**
   * Sends what gathered so far now instead of at the end of the turn: for a message that must not wait for the rest
   * of a long turn (a stream's first event). A command issued later in the turn corks again.
   */
  flush(): void {
    const stream = this.corked;
    if (stream !== null) {
      this.corked = null;
      stream.uncork();
    }
  }
}

/** The cork of each connection made with `corkEveryCommand`, for `flushTurn`. */
const corks = new WeakMap<Redis, TurnCork>();

/** Sends a `corkPerTurn` connection's commands of this turn so far at once (TurnCork.flush); no-op on any other. */
export function flushTurn(connection: Redis): void {
  corks.get(connection)?.flush();
}

/**
 * Corks `connection` for the rest of the turn before each command it sends (`createRedis`'s `corkPerTurn`), so that
 * the commands of every callback that runs in one turn of the event loop leave in one socket write. Auto-pipelining
 * only merges the commands of one callback (it flushes on `process.nextTick`), and under load a worker's turn runs
 * many: one per provider response, Redis reply and job it handles.
 */
export function corkEveryCommand(connection: Redis): void {
  const cork = new TurnCork(connection);
  corks.set(connection, cork);
  const send = connection.sendCommand.bind(connection);
  connection.sendCommand = (command, stream) => {
    cork.hold();
    return send(command, stream);
  };
}
