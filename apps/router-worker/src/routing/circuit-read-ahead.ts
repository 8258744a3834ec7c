import type { CircuitStatus } from '@aigw/routing';
import type { Redis } from 'ioredis';

/** How many recently routed deployments a woken worker reads ahead (one HMGET each, in one round trip). */
export const READ_AHEAD_IDS = 16;

type States = Map<string, CircuitStatus>;
type Read = (deploymentIds: readonly string[]) => Promise<States>;
/** A read sent on the given connection; may fail (the caller then reads afresh). */
type ReadVia = (deploymentIds: readonly string[], via: Redis) => Promise<States>;

interface Ahead {
  ids: ReadonlySet<string>;
  /** Null when the read failed: the routing reads afresh. */
  states: Promise<States | null>;
}

/**
 * Reads circuit states with the job fetch instead of in a round trip of their own after it.
 *
 * An idle worker woken for a job would have the job and then, once it has it, ask for the circuit states of the
 * deployments that can serve it: a round trip before the provider is called, a wake-up of two processes. Here the
 * worker, as it blocks for its next job, sends the read for the deployments it routed to recently behind its
 * BZPOPMIN and wake fetch, on the blocking connection (`start`; LeanWorker), and the job's routing uses that reply
 * (`states`) when it covers every candidate; otherwise, or when that read failed, it reads as before. Redis runs the
 * read when the wake-up is served, i.e. after the job was added, so it sees every circuit change that happened
 * before the request was made, as a read after the fetch does; a change concurrent with the request may be seen or
 * not, as before. The states are judged against the clock when the reply comes, not when the read was sent. A reply
 * is used by one routing only, never kept for another job.
 */
export class CircuitReadAhead {
  /** Deployments routed to recently, oldest first. */
  private readonly hot = new Set<string>();
  /** Read-aheads by the request (job data) they were started for; dropped with the job. */
  private readonly started = new WeakMap<object, Ahead>();

  constructor(
    private readonly read: Read,
    private readonly readVia: ReadVia,
    private readonly limit = READ_AHEAD_IDS,
  ) {}

  /**
   * Sends the read for the job the worker will be woken for on `via`, its blocking connection; returns how to attach
   * it to that job's request, or null.
   */
  start(via: Redis): ((request: object) => void) | null {
    if (this.hot.size === 0) {
      return null;
    }
    const ids = [...this.hot];
    const ahead: Ahead = { ids: new Set(ids), states: this.readVia(ids, via).catch(() => null) };
    return (request) => this.started.set(request, ahead);
  }

  /** The circuit states of `ids` for this request: its read-ahead when it covers them all, else a read now. */
  async states(request: object, ids: readonly string[]): Promise<States> {
    this.remember(ids);
    const ahead = this.started.get(request);
    if (ahead !== undefined) {
      this.started.delete(request);
      if (ids.every((id) => ahead.ids.has(id))) {
        return (await ahead.states) ?? this.read(ids);
      }
    }
    return this.read(ids);
  }

  /** Forgets recently routed deployments that are not in `deploymentIds` (deleted from the catalog). */
  retain(deploymentIds: ReadonlySet<string>): void {
    for (const id of this.hot) {
      if (!deploymentIds.has(id)) {
        this.hot.delete(id);
      }
    }
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
