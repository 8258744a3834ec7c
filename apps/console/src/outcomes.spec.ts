import { outcomesOf, successRateOf } from './outcomes';

describe('usage outcomes', () => {
  it('the success rate is of the requests that ended: those their client left count in neither part', () => {
    const o = outcomesOf({ requests: 100, successes: 9, failures: 1, clientClosed: 90 });
    expect(o).toEqual({ successes: 9, failures: 1, clientClosed: 90 });
    expect(successRateOf(o!)).toBe(0.9);
  });

  it('no request ended (all left by their clients, or none): no rate, rather than 0%', () => {
    expect(successRateOf({ successes: 0, failures: 0, clientClosed: 3 })).toBeNull();
    expect(successRateOf({ successes: 0, failures: 0, clientClosed: 0 })).toBeNull();
    expect(successRateOf({ successes: 0, failures: 2, clientClosed: 0 })).toBe(0);
  });

  it("the caller's own usage view has no outcome counts; a gateway from before clientClosed has 0 of them", () => {
    expect(outcomesOf({ requests: 3, promptTokens: 1, completionTokens: 1, costUsd: 0 })).toBeNull();
    expect(outcomesOf({ requests: 3, successes: 2, failures: 1 })).toEqual({
      successes: 2,
      failures: 1,
      clientClosed: 0,
    });
  });
});
