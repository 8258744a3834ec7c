import type { ReplyMessage } from '@aigw/core';
import type { ReplyWaiter } from './reply-waiter';

/**
 * Orders what a follower of a coalesced job receives: the job's log first (everything mirrored before the follower
 * subscribed), then the live messages, which are held until the log is read. Both may hold the same message;
 * waiters take duplicates in their stride (chunks by `seq`, one start, one end).
 */
export class FollowerFeed {
  private held: ReplyMessage[] | null = [];

  constructor(private readonly waiter: ReplyWaiter) {}

  onReply(msg: ReplyMessage): void {
    if (this.held !== null) {
      this.held.push(msg);
    } else if (!this.waiter.done) {
      this.waiter.onReply(msg);
    }
  }

  /** The log read after subscribing; from now on live messages go straight through. */
  replay(log: readonly ReplyMessage[]): void {
    const held = this.held ?? [];
    this.held = null;
    for (const msg of [...log, ...held]) {
      if (this.waiter.done) {
        return;
      }
      this.waiter.onReply(msg);
    }
  }
}
