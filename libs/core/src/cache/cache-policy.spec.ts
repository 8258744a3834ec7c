import {
  answerCacheable,
  answerStorable,
  cacheModelTag,
  cacheModelTagOf,
  cachePolicyOf,
  fillAllowedBy,
} from './cache-policy';

describe('cachePolicyOf', () => {
  const defaults = { enabled: false, ttlS: 3600, staleTtlS: 0 };

  it('is the defaults when no model sets anything', () => {
    expect(cachePolicyOf([], defaults)).toEqual(defaults);
    expect(cachePolicyOf([{}, { cache: {} }], defaults)).toEqual(defaults);
  });

  it("takes a model's settings over the defaults, on or off", () => {
    expect(cachePolicyOf([{ cache: { enabled: true } }], defaults)).toEqual({
      enabled: true,
      ttlS: 3600,
      staleTtlS: 0,
    });
    const on = { enabled: true, ttlS: 3600, staleTtlS: 0 };
    expect(cachePolicyOf([{ cache: { enabled: false, ttlS: 60, staleTtlS: 600 } }], on)).toEqual({
      enabled: false,
      ttlS: 60,
      staleTtlS: 600,
    });
  });

  it('lets off and the shortest TTL win when deployments disagree', () => {
    const models = [{ cache: { enabled: true, ttlS: 300 } }, { cache: { enabled: false, ttlS: 30 } }, {}];
    expect(cachePolicyOf(models, { enabled: true, ttlS: 3600, staleTtlS: 60 })).toEqual({
      enabled: false,
      ttlS: 30,
      staleTtlS: 60,
    });
    expect(cachePolicyOf([{ cache: { enabled: true } }, { cache: { ttlS: 10 } }], defaults)).toEqual({
      enabled: true,
      ttlS: 10,
      staleTtlS: 0,
    });
  });

  it('keeps the shortest stale time, and a model may turn stale answers off (0) or on over the default', () => {
    const stale = [{ cache: { staleTtlS: 600 } }, { cache: { staleTtlS: 0 } }];
    expect(cachePolicyOf(stale, { ...defaults, staleTtlS: 60 }).staleTtlS).toBe(0);
    expect(cachePolicyOf([{ cache: { staleTtlS: 600 } }], defaults).staleTtlS).toBe(600);
  });
});

describe('cacheModelTag', () => {
  it('is a short hex hash, stable and distinct per model name', () => {
    expect(cacheModelTag('gpt-4o')).toMatch(/^[0-9a-f]{16}$/);
    expect(cacheModelTag('gpt-4o')).toBe(cacheModelTag('gpt-4o'));
    expect(cacheModelTag('gpt-4o')).not.toBe(cacheModelTag('gpt-4o-mini'));
  });

  it('is the same with or without a known provider prefix', () => {
    const providers = new Set(['openai']);
    expect(cacheModelTagOf('openai/gpt-4o', providers)).toBe(cacheModelTag('gpt-4o'));
    expect(cacheModelTagOf('gpt-4o', providers)).toBe(cacheModelTag('gpt-4o'));
    expect(cacheModelTagOf('meta-llama/Llama-3', providers)).toBe(cacheModelTag('meta-llama/Llama-3'));
  });
});

describe('fillAllowedBy: the fill as the model that answered allows', () => {
  const fill = { key: 'k', modelTag: 't', ttlS: 3600, maxEntryBytes: 1024, staleTtlS: 600 };

  it('is the fill itself when the model sets nothing (or is no longer in the catalog)', () => {
    expect(fillAllowedBy(fill, undefined)).toBe(fill);
    expect(fillAllowedBy(fill, {})).toBe(fill);
    expect(fillAllowedBy(fill, { cache: { enabled: true, ttlS: 7200 } })).toBe(fill);
  });

  it("is null when the model's cache is off, whatever the request's policy said (an alias)", () => {
    expect(fillAllowedBy(fill, { cache: { enabled: false } })).toBeNull();
    expect(answerCacheable({ cache: { enabled: false } })).toBe(false);
    expect(answerCacheable({ cache: { ttlS: 5 } })).toBe(true);
    expect(answerCacheable(undefined)).toBe(true);
  });

  it("never keeps an answer longer than its model's own TTLs, nor adds stale time the request's policy had not", () => {
    expect(fillAllowedBy(fill, { cache: { ttlS: 60, staleTtlS: 30 } })).toEqual({ ...fill, ttlS: 60, staleTtlS: 30 });
    const fresh = { key: 'k', modelTag: 't', ttlS: 3600, maxEntryBytes: 1024 };
    expect(fillAllowedBy(fresh, { cache: { ttlS: 60, staleTtlS: 30 } })).toMatchObject({ ttlS: 60 });
    expect(fillAllowedBy(fresh, { cache: { ttlS: 60, staleTtlS: 30 } })?.staleTtlS).toBeUndefined();
  });
});

describe('answerStorable', () => {
  it('refuses only an answer a content filter cut short', () => {
    expect(answerStorable({ finishReason: 'content_filter' })).toBe(false);
    for (const finishReason of ['stop', 'length', 'tool_calls', null]) {
      expect(answerStorable({ finishReason })).toBe(true);
    }
  });
});
