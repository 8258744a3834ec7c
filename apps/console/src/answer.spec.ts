import { costWithoutJob } from './answer';

describe('playground answer cost', () => {
  it('is 0 without asking for a cache hit, a stale answer and a coalesced follower', () => {
    expect(costWithoutJob('hit', false)).toBe(0);
    expect(costWithoutJob('stale', false)).toBe(0);
    expect(costWithoutJob('miss', true)).toBe(0);
  });

  it("is left to the job for an answer of the request's own provider call", () => {
    expect(costWithoutJob('miss', false)).toBeUndefined();
    expect(costWithoutJob('bypass', false)).toBeUndefined();
    expect(costWithoutJob(undefined, undefined)).toBeUndefined();
  });
});
