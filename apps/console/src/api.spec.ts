import { ApiError, normalizeKey } from './api';

describe('normalizeKey', () => {
  it('trims a key and strips a pasted "Bearer " prefix', () => {
    expect(normalizeKey('  sk-aigw-abc123 \n')).toBe('sk-aigw-abc123');
    expect(normalizeKey('Bearer sk-aigw-abc123')).toBe('sk-aigw-abc123');
    expect(normalizeKey('bearer   sk-aigw-abc123')).toBe('sk-aigw-abc123');
    expect(normalizeKey('sk-aigw-Bearer')).toBe('sk-aigw-Bearer');
  });

  it.each([['sk-aigw-ключ'], ['sk-aigw-café'], ['sk-aigw- two'], ['']])(
    'refuses %j as a key of invalid format',
    (input) => {
      let thrown: unknown;
      try {
        normalizeKey(input);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ApiError);
      expect((thrown as ApiError).message).toContain('invalid format');
      expect((thrown as ApiError).code).toBe('invalid_key_format');
    },
  );
});
