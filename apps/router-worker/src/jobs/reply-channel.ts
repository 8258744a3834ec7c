import type { ReplyMessage, StreamDelta } from '@aigw/core';
import type { Redis } from 'ioredis';
import type { StreamObserver, StreamStart } from '../generation/stream-observer';

/**
 * Publishes one job's replies on the gateway's reply channel. Messages are not awaited one by one: they all go
 * through one connection, which keeps their order, and auto-pipelining batches a stream's chunks. A job with no
 * reply channel (async job) publishes nothing.
 */
export class ReplyChannel implements StreamObserver {
  private seq = 0;
  private last: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string | null,
    private readonly jobId: string,
  ) {}

  send(message: ReplyMessage): void {
    if (this.channel === null) {
      return;
    }
    this.last = this.redis.publish(this.channel, JSON.stringify(message)).catch((err: unknown) => {
      this.failure ??= err;
    });
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

  /** Waits until Redis took every message; returns the first publish failure, if any. */
  async settle(): Promise<unknown> {
    await this.last;
    return this.failure;
  }
}
