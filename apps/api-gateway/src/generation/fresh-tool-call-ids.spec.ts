import { FreshToolCallIds } from './fresh-tool-call-ids';

describe('FreshToolCallIds', () => {
  const call = (id: string, name = 'get_weather') =>
    ({ id, type: 'function', function: { name, arguments: '{}' } }) as const;

  it('names each call of an answer by one fresh id, in its fragments and in the whole answer alike', () => {
    const ids = new FreshToolCallIds();
    const first = ids.deltas([
      { index: 0, id: 'call_aaaaaaaaaaaaaaaaaaaaaaaa', name: 'get_weather' },
      { index: 1, id: 'call_bbbbbbbbbbbbbbbbbbbbbbbb', name: 'get_time' },
    ]);
    const later = [{ index: 0, arguments: '{"city":' }];
    expect(ids.deltas(later)).toBe(later);
    const whole = ids.calls([call('call_aaaaaaaaaaaaaaaaaaaaaaaa'), call('call_bbbbbbbbbbbbbbbbbbbbbbbb', 'get_time')]);
    expect(whole.map((c) => c.id)).toEqual(first.map((d) => d.id));
    expect(whole[0].id).not.toBe('call_aaaaaaaaaaaaaaaaaaaaaaaa');
    expect(whole[0].id).not.toBe(whole[1].id);
    expect(whole[1].function.name).toBe('get_time');
  });

  it('gives another answer of the same calls other ids', () => {
    const stored = [call('toolu_01A09q90qw90lq917835lq9')];
    const a = new FreshToolCallIds().calls(stored)[0].id;
    const b = new FreshToolCallIds().calls(stored)[0].id;
    expect(a).toMatch(/^toolu_/);
    expect(a).not.toBe(b);
  });
});
