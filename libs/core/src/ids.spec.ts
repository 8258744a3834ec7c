import { freshToolCallId, newRequestId } from './ids';

describe('newRequestId', () => {
  it('is req_ and 32 lowercase hex digits, different each time', () => {
    const ids = Array.from({ length: 1000 }, newRequestId);
    for (const id of ids) {
      expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('freshToolCallId', () => {
  it.each([
    ['call_abc123DEF456ghi789JKL012', /^call_[A-Za-z0-9]{24}$/],
    ['toolu_01A09q90qw90lq917835lq9', /^toolu_[A-Za-z0-9]{23}$/],
    ['toolu_vrtx_01A09q90qw90lq917835lq9', /^toolu_vrtx_[A-Za-z0-9]{23}$/],
    ['call_0123456789abcdef01234567', /^call_[0-9a-f]{24}$/],
    ['chatcmpl-tool-0123456789abcdef0123456789abcdef', /^chatcmpl-tool-[0-9a-f]{32}$/],
    ['call_0_8b6f5d3e-1a2b-4c3d-9e8f-0a1b2c3d4e5f', /^call_0_8b6f5d3e-1a2b-4c3d-9e8f-[0-9a-f]{12}$/],
    ['D681PevKs', /^[A-Za-z0-9]{9}$/],
    ['call_12345678', /^call_[0-9]{8}$/],
  ])('draws the random part of %s afresh, in its shape', (id, shape) => {
    const fresh = Array.from({ length: 50 }, () => freshToolCallId(id));
    for (const f of fresh) {
      expect(f).toMatch(shape);
      expect(f).toHaveLength(id.length);
    }
    expect(new Set([id, ...fresh]).size).toBe(51);
  });

  it('keeps a Gemini thought signature riding in the id as it is', () => {
    const fresh = freshToolCallId('call_0123456789abcdef01234567__thought__c2lnbmVk');
    expect(fresh).toMatch(/^call_[0-9a-f]{24}__thought__c2lnbmVk$/);
    expect(fresh.startsWith('call_0123456789abcdef01234567')).toBe(false);
  });

  it.each(['call_0', 'toolu_1', 'functions.get_weather:0', ''])(
    'leaves %p, which has no random part, as it is',
    (id) => {
      expect(freshToolCallId(id)).toBe(id);
    },
  );
});
