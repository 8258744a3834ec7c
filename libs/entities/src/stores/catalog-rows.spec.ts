import { changedFields } from './catalog-rows';

describe('changedFields', () => {
  it('compares prices to 1e-9, quality as float4 and arrays by value', () => {
    const row = {
      promptPer1k: 0.00015,
      quality: Math.fround(0.123456789),
      capabilities: ['chat', 'streaming'],
      name: 'a',
    };
    expect(
      changedFields(row, { promptPer1k: 0.00015000000001, quality: 0.123456789, capabilities: ['chat', 'streaming'] }),
    ).toEqual([]);
    expect(changedFields(row, { promptPer1k: 0.000150001, quality: 0.2, capabilities: ['chat'], name: 'b' })).toEqual([
      'promptPer1k',
      'quality',
      'capabilities',
      'name',
    ]);
  });

  it('compares jsonb settings key by key, null against an object as changed', () => {
    const row = { cache: { enabled: true, ttlS: 60 } as Record<string, unknown> | null };
    expect(changedFields(row, { cache: { ttlS: 60, enabled: true } })).toEqual([]);
    expect(changedFields(row, { cache: { enabled: true } })).toEqual(['cache']);
    expect(changedFields(row, { cache: null })).toEqual(['cache']);
    expect(changedFields({ cache: null }, { cache: null })).toEqual([]);
  });
});
