import { ErrorCode, GatewayError } from '@aigw/core';
import { canonicalJson, idempotencyKeyOf, idempotentJobId, requestFingerprint } from './idempotency';

describe('idempotency hashing', () => {
  it('canonicalises key order at every level but keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });

  it('gives equal fingerprints to the same body in another key order', () => {
    const a = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5 };
    const b = { temperature: 0.5, messages: [{ content: 'hi', role: 'user' }], model: 'm' };
    expect(requestFingerprint('chat', a)).toBe(requestFingerprint('chat', b));
  });

  it('tells apart different bodies and different endpoints', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    expect(requestFingerprint('chat', body)).not.toBe(
      requestFingerprint('chat', { ...body, messages: [{ role: 'user', content: 'hi!' }] }),
    );
    expect(requestFingerprint('chat', body)).not.toBe(requestFingerprint('jobs', body));
  });

  it('scopes job ids by API key and never embeds the Idempotency-Key', () => {
    const id = idempotentJobId('k1', 'key-123');
    expect(id).toMatch(/^idem_[0-9a-f]{64}$/);
    expect(id).not.toContain('key-123');
    expect(idempotentJobId('k2', 'key-123')).not.toBe(id);
    expect(idempotentJobId('k1', 'key-123')).toBe(id);
  });

  it('accepts keys of 1..255 characters', () => {
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
    expect(idempotencyKeyOf('k'.repeat(255))).toBe('k'.repeat(255));
    for (const bad of ['', 'k'.repeat(256), ['a', 'b']]) {
      let caught: unknown;
      try {
        idempotencyKeyOf(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GatewayError);
      expect((caught as GatewayError).code).toBe(ErrorCode.InvalidRequest);
      expect((caught as GatewayError).param).toBe('Idempotency-Key');
    }
  });
});
