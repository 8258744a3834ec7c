import { Logger } from '@nestjs/common';
import type { ReplyMessage } from '@aigw/core';
import { describeError } from '../http/errors';

/** Receives the replies a worker of this process sends to one reply channel of this process. */
export type LocalReplyReceiver = (message: ReplyMessage) => void;

/** Hands one job's replies to their receiver: asynchronously, in the order they were sent. */
export type LocalReplySender = (message: ReplyMessage) => void;

/** Injection token of the process's LocalReplies, provided only where apps share a process (ADR 0010). */
export const LOCAL_REPLIES = Symbol('LOCAL_REPLIES');

export interface LocalRepliesOptions {
  /**
   * Deep-freeze every message handed over. Sender and receiver then share the objects, so a later change on either
   * side would be seen by the other; frozen, it throws instead. For tests: it costs a walk of every message.
   */
  freeze?: boolean;
}

/**
 * The reply channels of the gateways hosted in this process, so that a worker of the same process hands them
 * their replies in memory instead of publishing them through Redis (single-process mode, ADR 0010).
 *
 * Delivery keeps the pub/sub contract: never inside `send` (a queued microtask), in the order of the sends (the
 * microtask queue is FIFO), and a receiver's failure stays with the receiver. The message objects are handed over,
 * not copied: neither side may change them afterwards (see `freeze`).
 *
 * One instance is shared explicitly by the apps of a process (the LOCAL_REPLIES provider); apps that run alone
 * get none and publish every reply.
 */
export class LocalReplies {
  private readonly receivers = new Map<string, LocalReplyReceiver>();

  constructor(
    private readonly opts: LocalRepliesOptions = {},
    private readonly logger: Pick<Logger, 'error'> = new Logger(LocalReplies.name),
  ) {}

  /** Routes `channel`'s replies to `receiver` until the returned function is called. */
  register(channel: string, receiver: LocalReplyReceiver): () => void {
    if (this.receivers.has(channel)) {
      throw new Error(`reply channel ${channel} is already registered in this process`);
    }
    this.receivers.set(channel, receiver);
    return () => {
      if (this.receivers.get(channel) === receiver) {
        this.receivers.delete(channel);
      }
    };
  }

  /**
   * The sender of one job's replies to `channel`, or null when no receiver of that channel is in this process (the
   * replies go through Redis). Looked up once per job, so that all of a job's replies take the same way, in order.
   */
  senderTo(channel: string): LocalReplySender | null {
    const receiver = this.receivers.get(channel);
    if (receiver === undefined) {
      return null;
    }
    const freeze = this.opts.freeze === true;
    return (message) => {
      if (freeze) {
        deepFreeze(message);
      }
      queueMicrotask(() => {
        try {
          receiver(message);
        } catch (err) {
          this.logger.error(`a local reply receiver failed: ${describeError(err)}`);
        }
      });
    };
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) {
    return;
  }
  Object.freeze(value);
  for (const child of Object.values(value)) {
    deepFreeze(child);
  }
}
