import type { CircuitStatus } from '@aigw/routing';
import type { Redis } from 'ioredis';
import { CircuitReadAhead } from './circuit-read-ahead';

const closed: CircuitStatus = { state: 'closed', openedAt: 0, probesInFlight: 0, available: true, retryAfterMs: null };

/** The blocking connection the read-ahead is sent on (the rig's reads only record it). */
const blocking = {} as Redis;

function rig(limit?: number, failVia = false) {
  const reads: string[][] = [];
  const via: (Redis | null)[] = [];
  const read = (ids: readonly string[], on: Redis | null) => {
    reads.push([...ids]);
    via.push(on);
    return Promise.resolve(new Map(ids.map((id) => [id, { ...closed, openedAt: reads.length }])));
  };
  const ahead = new CircuitReadAhead(
    (ids) => read(ids, null),
    (ids, on) => (failVia ? Promise.reject(new Error('Connection is closed.')) : read(ids, on)),
    limit,
  );
  return { ahead, reads, via };
}

describe('CircuitReadAhead', () => {
  it('starts nothing before any routing, then reads the deployments routed to on the blocking connection', async () => {
    const { ahead, reads, via } = rig();
    expect(ahead.start(blocking)).toBeNull();
    await ahead.states({}, ['a', 'b']);
    expect(reads).toEqual([['a', 'b']]);
    expect(ahead.start(blocking)).not.toBeNull();
    expect(reads).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(via).toEqual([null, blocking]);
  });

  it('reads afresh when the read sent ahead failed (its connection was dropped)', async () => {
    const { ahead, reads, via } = rig(undefined, true);
    await ahead.states({}, ['a']);
    const request = {};
    ahead.start(blocking)?.(request);
    const states = await ahead.states(request, ['a']);
    expect(states.get('a')?.state).toBe('closed');
    expect(reads).toEqual([['a'], ['a']]);
    expect(via).toEqual([null, null]);
  });

  it("serves a request's routing from the read started with its fetch, once", async () => {
    const { ahead, reads } = rig();
    await ahead.states({}, ['a', 'b']);
    const request = {};
    ahead.start(blocking)?.(request);
    const first = await ahead.states(request, ['b']);
    expect(reads).toHaveLength(2);
    expect(first.get('b')?.openedAt).toBe(2);
    // A second routing of the same request (a re-run) reads afresh.
    const again = await ahead.states(request, ['b']);
    expect(reads).toHaveLength(3);
    expect(again.get('b')?.openedAt).toBe(3);
  });

  it('reads afresh when the read-ahead misses a candidate, and remembers it for the next one', async () => {
    const { ahead, reads } = rig();
    await ahead.states({}, ['a']);
    const request = {};
    ahead.start(blocking)?.(request);
    await ahead.states(request, ['a', 'c']);
    expect(reads).toEqual([['a'], ['a'], ['a', 'c']]);
    ahead.start(blocking);
    expect(reads[3]).toEqual(['a', 'c']);
  });

  it('never serves one request from the read started for another', async () => {
    const { ahead, reads } = rig();
    await ahead.states({}, ['a']);
    ahead.start(blocking)?.({});
    await ahead.states({}, ['a']);
    expect(reads).toHaveLength(3);
  });

  it('reads ahead only the most recently routed deployments', async () => {
    const { ahead, reads } = rig(2);
    await ahead.states({}, ['a', 'b']);
    await ahead.states({}, ['c']);
    await ahead.states({}, ['b']);
    ahead.start(blocking);
    expect(reads.at(-1)).toEqual(['c', 'b']);
  });
});
