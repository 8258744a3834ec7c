import { GatewayError, type GenerationResult, type ReplyMessage, noop } from '@aigw/core';
import { settlementOf, type JobSnapshot } from './job-snapshot';
import { clientGoneError, ReplyWaiter, type AbandonReason, type WaiterOptions } from './reply-waiter';

/** Waits for a non-streamed answer: one `result` or `error` message, or the stored outcome. */
export class SyncWait extends ReplyWaiter {
  readonly answer: Promise<GenerationResult>;
  private resolveAnswer!: (r: GenerationResult) => void;
  private rejectAnswer!: (e: GatewayError) => void;

  constructor(opts: WaiterOptions) {
    super(opts);
    this.answer = new Promise<GenerationResult>((resolve, reject) => {
      this.resolveAnswer = resolve;
      this.rejectAnswer = reject;
    });
    // The caller may attach its handler only after an await; a rejection before that is not unhandled.
    this.answer.catch(noop);
  }

  onReply(msg: ReplyMessage): void {
    switch (msg.t) {
      case 'result':
      case 'end':
        this.succeed(msg.result);
        return;
      case 'error':
        this.fail(GatewayError.fromBody(msg.error, msg.retryAfterMs));
        return;
      case 'start':
      case 'chunk':
      case 'chunks':
        // A streamed reply to a non-streamed wait: its `end` carries the whole answer.
        return;
      case 'stored':
        // The answer is in the kept outcome: the hub reads it back (`onSnapshot`).
        return;
    }
  }

  onSnapshot(snapshot: JobSnapshot): void {
    const s = settlementOf(snapshot);
    if (!s.done) {
      return;
    }
    if ('result' in s) {
      this.succeed(s.result);
    } else {
      this.fail(s.error);
    }
  }

  abandon(reason: AbandonReason): void {
    if (this.fail(clientGoneError())) {
      this.abandonJob(reason);
    }
  }

  private succeed(result: GenerationResult): void {
    if (this.finish()) {
      this.resolveAnswer(result);
    }
  }

  protected override fail(err: GatewayError): boolean {
    if (!this.finish()) {
      return false;
    }
    this.rejectAnswer(err);
    return true;
  }
}
