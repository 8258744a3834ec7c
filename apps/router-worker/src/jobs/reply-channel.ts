import type { ReplyMessage, StreamDelta } from '@aigw/core';
import { releaseInFlight, type InFlightNames, type LocalReplies, type LocalReplySender } from '@aigw/platform';
import type { Redis } from 'ioredis';
import type { StreamObserver, StreamStart } from '../generation/stream-observer';

/** Where a coalesced job's replies are mirrored for the requests that joined it (ADR 0007). */
export interface ReplyMirror {
  names: InFlightNames;
  /** TTL of the mirrored log, from the job's deadline. */
  ttlMs: number;
}

/**
 * Publishes one job's replies on the gateway's reply channel. Messages are not awaited one by one: they all go
 * through one connection, which keeps their order, and its per-turn cork batches a stream's chunks. A job with no
 * reply channel (async job) publishes nothing.
 *
 * A coalesced job also mirrors every message for its followers: appended to the job's log (a late joiner replays
 * it from the start), then published on the job's own channel, in that order, so that a follower that subscribes
 * and then reads the log misses nothing. Its final message first ends the in-flight marker.
 *
 * When the waiting gateway is in this process (`local` knows its channel, ADR 0010), the messages are handed to it
 * in memory, unserialised, instead of published; the mirror still goes through Redis for followers elsewhere.
 * Messages are built here and never changed after `send`, which is what makes sharing them safe.
 */
export class ReplyChannel implements StreamObserver {
  private seq = 0;
  private last: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private mirrored = false;
  private readonly inProcess: LocalReplySender | null;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string | null,
    private readonly jobId: string,
    private readonly mirror: ReplyMirror | null = null,
    local: LocalReplies | null = null,
  ) {
    this.inProcess = channel === null ? null : (local?.senderTo(channel) ?? null);
  }

  send(message: ReplyMessage): void {
    if (this.channel === null) {
      return;
    }
    if (this.inProcess !== null) {
      if (this.mirror !== null) {
        this.mirrorMessage(this.mirror, message, JSON.stringify(message));
      }
      this.inProcess(message);
      return;
    }
    const payload = JSON.stringify(message);
    if (this.mirror !== null) {
      this.mirrorMessage(this.mirror, message, payload);
    }
    this.last = this.redis.publish(this.channel, payload).catch(this.failed);
  }

  onStart(head: StreamStart & { attempts: number }): void {
    this.send({ t: 'start', jobId: this.jobId, ...head });
  }

  onChunk(delta: StreamDelta): void {
    const chunk: Extract<ReplyMessage, { t: 'chunk' }> = {
      t: 'chunk',
      jobId: this.jobId,
      seq: this.seq++,
      text: delta.text,
    };
    if (delta.finishReason !== undefined) {
      chunk.finishReason = delta.finishReason;
    }
    // Only the fields a chunk carries: the delta's id and usage travel in `start` and the final result.
    if (delta.toolCalls !== undefined) {
      chunk.toolCalls = delta.toolCalls;
    }
    if (delta.reasoning !== undefined) {
      chunk.reasoning = delta.reasoning;
    }
    if (delta.refusal !== undefined) {
      chunk.refusal = delta.refusal;
    }
    this.send(chunk);
  }

  private mirrorMessage(mirror: ReplyMirror, message: ReplyMessage, payload: string): void {
    const { names } = mirror;
    if (message.t !== 'start' && message.t !== 'chunk') {
      // Identical requests arriving from now on start a job of their own (those that joined have the log).
      void releaseInFlight(this.redis, names, this.jobId).catch(this.failed);
    }
    void this.redis.rpush(names.log, payload).catch(this.failed);
    if (!this.mirrored) {
      this.mirrored = true;
      void this.redis.pexpire(names.log, mirror.ttlMs).catch(this.failed);
    }
    void this.redis.publish(names.channel, payload).catch(this.failed);
  }

  private readonly failed = (err: unknown): void => {
    this.failure ??= err;
  };

  /**
   * Waits until Redis took every message (one handed over in memory counts as taken); returns the first publish
   * failure, if any.
   */
  async settle(): Promise<unknown> {
    await this.last;
    return this.failure;
  }
}
