import { advisoryLockKey, checkSchemaName } from './schema-name';

describe('checkSchemaName', () => {
  it('defaults to public and accepts lower-case identifiers', () => {
    expect(checkSchemaName(undefined)).toBe('public');
    expect(checkSchemaName('')).toBe('public');
    expect(checkSchemaName('aigw_test_1')).toBe('aigw_test_1');
  });

  it.each(['Upper', '1abc', 'a-b', 'a;drop', 'x'.repeat(64), 'a"b'])('rejects %s', (name) => {
    expect(() => checkSchemaName(name)).toThrow('invalid database schema name');
  });
});

describe('advisoryLockKey', () => {
  it('is a stable signed 64-bit integer per purpose and schema', () => {
    const key = advisoryLockKey('migrations', 'public');
    expect(key).toBe(advisoryLockKey('migrations', 'public'));
    expect(key).toMatch(/^-?\d+$/);
    const n = BigInt(key);
    expect(n >= -(2n ** 63n) && n < 2n ** 63n).toBe(true);
    expect(advisoryLockKey('migrations', 'other')).not.toBe(key);
    expect(advisoryLockKey('catalog-seed', 'public')).not.toBe(key);
  });
});
