import type { CircuitStatus } from '@aigw/routing';
import { CircuitReadAhead } from './circuit-read-ahead';

const closed: CircuitStatus = { state: 'closed', openedAt: 0, probesInFlight: 0, available: true, retryAfterMs: null };

function rig(limit?: number) {
  const reads: string[][] = [];
  const ahead = new CircuitReadAhead((ids) => {
    reads.push([...ids]);
    return Promise.resolve(new Map(ids.map((id) => [id, { ...closed, openedAt: reads.length }])));
  }, limit);
  return { ahead, reads };
}

describe('CircuitReadAhead', () => {
  it('starts nothing before any routing, then reads the deployments routed to', async () => {
    const { ahead, reads } = rig();
    expect(ahead.start()).toBeNull();
    await ahead.states({}, ['a', 'b']);
    expect(reads).toEqual([['a', 'b']]);
    expect(ahead.start()).not.toBeNull();
    expect(reads).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
  });

  it("serves a request's routing from the read started with its fetch, once", async () => {
    const { ahead, reads } = rig();
    await ahead.states({}, ['a', 'b']);
    const request = {};
    ahead.start()?.(request);
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
    ahead.start()?.(request);
    await ahead.states(request, ['a', 'c']);
    expect(reads).toEqual([['a'], ['a'], ['a', 'c']]);
    ahead.start();
    expect(reads[3]).toEqual(['a', 'c']);
  });

  it('never serves one request from the read started for another', async () => {
    const { ahead, reads } = rig();
    await ahead.states({}, ['a']);
    ahead.start()?.({});
    await ahead.states({}, ['a']);
    expect(reads).toHaveLength(3);
  });

  it('reads ahead only the most recently routed deployments', async () => {
    const { ahead, reads } = rig(2);
    await ahead.states({}, ['a', 'b']);
    await ahead.states({}, ['c']);
    await ahead.states({}, ['b']);
    ahead.start();
    expect(reads.at(-1)).toEqual(['c', 'b']);
  });
});
