import type { Socket } from 'node:net';
import { Redis } from 'ioredis';

/**
 * ioredis 5 (5.11.1, the version BullMQ pins) arms `socketTimeout`'s timer for a command and, when it fires, destroys
 * `this.stream`: the connection's socket at that moment, not the one the command was sent on. A socket that closed
 * with a command unanswered (a Redis restart) leaves the timer armed, and 15 s later it destroys the healthy socket
 * that replaced it: one more outage after every restart (redis/ioredis#2147, fixed in ioredis 6 by binding the timer
 * to its socket). Until the dependency moves, the timer is bound to its socket here the same way: firing for a
 * socket that was replaced, it only re-arms for the current one when commands are waiting on it.
 */
interface SocketTimeoutInternals {
  stream: Socket;
  options: { socketTimeout?: number };
  commandQueue: { length: number };
  socketTimeoutTimer: NodeJS.Timeout | undefined;
  setSocketTimeout(): void;
}

let applied = false;

export function bindSocketTimeoutToItsSocket(): void {
  const proto = Redis.prototype as unknown as SocketTimeoutInternals;
  if (applied || typeof proto.setSocketTimeout !== 'function') {
    return;
  }
  applied = true;
  proto.setSocketTimeout = function (this: SocketTimeoutInternals): void {
    const stream = this.stream;
    const ms = this.options.socketTimeout;
    this.socketTimeoutTimer = setTimeout(() => {
      this.socketTimeoutTimer = undefined;
      if (this.stream === stream) {
        stream.destroy(new Error(`Socket timeout. Expecting data, but didn't receive any in ${ms}ms.`));
      } else if (this.commandQueue.length > 0) {
        this.setSocketTimeout();
      }
    }, ms);
    // After ioredis' own data handler, so the command queue is already updated (as ioredis does it).
    stream.once('data', () => {
      if (this.stream !== stream) {
        return;
      }
      clearTimeout(this.socketTimeoutTimer);
      this.socketTimeoutTimer = undefined;
      if (this.commandQueue.length > 0) {
        this.setSocketTimeout();
      }
    });
  };
}
