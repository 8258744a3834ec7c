import { SEND_BY } from '@aigw/routing';
import { type Command, Redis } from 'ioredis';

/** A command not written to Redis because its time to be sent had passed (see `refuseLateSends`). */
export class LateSendError extends Error {
  constructor(name: string) {
    super(`${name} not sent: held past its deadline (its connection was not ready in time)`);
    this.name = 'LateSendError';
  }
}

interface SendCommandInternals {
  // A property, not a method: the original is kept and called with the connection as `this`.
  sendCommand: (this: Redis, command: Command, stream?: unknown) => unknown;
}

let applied = false;

/**
 * ioredis 5 (5.11.1) sends again the commands a dropped connection left unanswered once a reconnection is ready, and
 * gives up on them (`maxRetriesPerRequest`) only while reconnections fail to connect: the queue it keeps them in
 * (`prevCommandQueue`) is not the one it flushes when a reconnection connects but never gets ready (a half-open
 * network behind a proxy, a Redis still loading), so they are held as long as that lasts. A command marked with a
 * deadline (`SEND_BY`, by `RedisScript.run`) is rejected rather than written after it, first send or resend alike; any
 * other goes as before. One property read per command.
 */
export function refuseLateSends(): void {
  const proto = Redis.prototype as unknown as SendCommandInternals;
  if (applied || typeof proto.sendCommand !== 'function') {
    return;
  }
  applied = true;
  const send = proto.sendCommand;
  proto.sendCommand = function (this: Redis, command: Command, stream?: unknown): unknown {
    const sendBy = (command as unknown as Record<symbol, number | undefined>)[SEND_BY];
    if (sendBy !== undefined && Date.now() > sendBy) {
      command.reject(new LateSendError(command.name));
      return command.promise;
    }
    return send.call(this, command, stream);
  };
}
