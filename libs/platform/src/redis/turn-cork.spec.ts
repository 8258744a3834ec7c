import type { Redis } from 'ioredis';
import { corkEveryCommand, flushTurn, TurnCork } from './turn-cork';

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

  it('writes what gathered at once on release, and corks again for the rest of the turn', async () => {
    const { connection, calls } = fakeConnection();
    const cork = new TurnCork(connection);
    cork.hold();
    cork.release();
    expect(calls).toEqual(['cork', 'uncork']);
    cork.release();
    cork.hold();
    expect(calls).toEqual(['cork', 'uncork', 'cork']);
    await new Promise((r) => setImmediate(r));
    // The first cork's end-of-turn uncork is stale: only the second cork is undone, once.
    expect(calls).toEqual(['cork', 'uncork', 'cork', 'uncork']);
  });

  it('flushTurn releases the cork corkEveryCommand put on a connection, and leaves others alone', () => {
    const { connection, calls } = fakeConnection();
    const sent: unknown[] = [];
    Object.assign(connection, { sendCommand: (command: unknown) => sent.push(command) });
    corkEveryCommand(connection);
    void connection.sendCommand({} as never);
    flushTurn(connection);
    expect(calls).toEqual(['cork', 'uncork']);
    expect(sent).toHaveLength(1);
    const other = fakeConnection();
    flushTurn(other.connection);
    expect(other.calls).toEqual([]);
  });

  it('leaves a connection that is not ready alone', () => {
    const { connection, calls } = fakeConnection('reconnecting');
    new TurnCork(connection).hold();
    expect(calls).toEqual([]);
  });
});
