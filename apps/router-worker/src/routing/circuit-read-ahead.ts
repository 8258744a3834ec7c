import type { CircuitStatus } from '@aigw/routing';

/** How many recently routed deployments a woken worker reads ahead (one HMGET each, in one round trip). */
export const READ_AHEAD_IDS = 16;

type Read = (deploymentIds: readonly string[]) => Promise<Map<string, CircuitStatus>>;

interface Ahead {
  ids: ReadonlySet<string>;
  states: Promise<Map<string, CircuitStatus>>;
}

/**
 * Reads circuit states in the round trip of the job fetch instead of in one of their own after it.
 *
 * An idle worker woken for a job asks Redis for the job and then, once it has it, for the circuit states of the
 * deployments that can serve it: two round trips in a row before the provider is called, each a wake-up of two
 * processes. Here the woken worker asks for the states of the deployments it routed to recently in the same turn as
 * the fetch (`start`), and the job's routing uses that reply (`states`) when it covers every candidate; otherwise it
 * reads as before. The read is issued after the job was added (the wake-up came from that add), so it sees every
 * circuit change that happened before the request was made, as the read after the fetch did; a change concurrent
 * with the request may be seen or not, as before. A reply is used by one routing only, never kept for another job.
 */
export class CircuitReadAhead {
  /** Deployments routed to recently, oldest first. */
  private readonly hot = new Set<string>();
  /** Read-aheads by the request (job data) they were started for; dropped with the job. */
  private readonly started = new WeakMap<object, Ahead>();

  constructor(
    private readonly read: Read,
    private readonly limit = READ_AHEAD_IDS,
  ) {}

  /** Starts a read for a job being fetched now; returns how to attach it to the job's request, or null. */
  start(): ((request: object) => void) | null {
    if (this.hot.size === 0) {
      return null;
    }
    const ids = [...this.hot];
    const ahead: Ahead = { ids: new Set(ids), states: this.read(ids) };
    return (request) => this.started.set(request, ahead);
  }

  /** The circuit states of `ids` for this request: its read-ahead when it covers them all, else a read now. */
  states(request: object, ids: readonly string[]): Promise<Map<string, CircuitStatus>> {
    this.remember(ids);
    const ahead = this.started.get(request);
    if (ahead !== undefined) {
      this.started.delete(request);
      if (ids.every((id) => ahead.ids.has(id))) {
        return ahead.states;
      }
    }
    return this.read(ids);
  }

  private remember(ids: readonly string[]): void {
    for (const id of ids) {
      this.hot.delete(id);
      this.hot.add(id);
    }
    for (const id of this.hot) {
      if (this.hot.size <= this.limit) {
        break;
      }
      this.hot.delete(id);
    }
  }
}
