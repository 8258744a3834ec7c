import { preferenceChainOf, type PreferenceRow } from './preference-reader';

const row = (context: string, model: string, policy: PreferenceRow['policy'] = null): PreferenceRow => ({
  context,
  model,
  policy,
});

describe('preferenceChainOf', () => {
  it("takes the context's preference, then the user's default, then the system default", () => {
    const rows = [row('', 'sim-gpt'), row('coding', 'sim/claude'), row('chat', 'x')];
    expect(preferenceChainOf(rows, 'coding', 'sys-model')).toEqual({
      context: 'sim/claude',
      userDefault: 'sim-gpt',
      systemDefault: 'sys-model',
      then: null,
    });
    expect(preferenceChainOf(rows, 'unknown', null)).toMatchObject({ context: null, userDefault: 'sim-gpt' });
    expect(preferenceChainOf(rows, undefined, null)).toMatchObject({ context: null, userDefault: 'sim-gpt' });
    expect(preferenceChainOf([], 'coding', 'sys')).toEqual({
      context: null,
      userDefault: null,
      systemDefault: 'sys',
      then: null,
    });
  });

  it('orders within groups by the policy of the most specific row, or the one its alias stands for', () => {
    expect(preferenceChainOf([row('', 'a', 'latency'), row('c', 'b', 'quality')], 'c', null).then).toBe('quality');
    expect(preferenceChainOf([row('', 'a', 'latency'), row('c', 'b')], 'c', null).then).toBe('latency');
    expect(preferenceChainOf([row('', 'fastest')], 'c', null).then).toBe('latency');
    expect(preferenceChainOf([row('', 'auto', 'preference')], 'c', null).then).toBeNull();
  });
});
