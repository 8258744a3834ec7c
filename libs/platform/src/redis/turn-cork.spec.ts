import type { Redis } from 'ioredis';
import { TurnCork } from './turn-cork';

function fakeConnection(status = 'ready'): { connection: Redis; calls: string[] } {
  const calls: string[] = [];
  const stream = { cork: () => calls.push('cork'), uncork: () => calls.push('uncork') };
  return { connection: { status, stream } as unknown as Redis, calls };
}

describe('TurnCork', () => {
  it('corks once per turn and uncorks after the turn', async () => {
    const { connection, calls } = fakeConnection();
    const cork = new TurnCork(connection);
    cork.hold();
    cork.hold();
    await Promise.resolve();
    cork.hold();
    expect(calls).toEqual(['cork']);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['cork', 'uncork']);
    cork.hold();
    expect(calls).toEqual(['cork', 'uncork', 'cork']);
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });

  it('leaves a connection that is not ready alone', () => {
    const { connection, calls } = fakeConnection('reconnecting');
    new TurnCork(connection).hold();
    expect(calls).toEqual([]);
  });
});
