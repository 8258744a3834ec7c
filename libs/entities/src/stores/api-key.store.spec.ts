import { keyPrefixOf } from './api-key.store';

describe('keyPrefixOf', () => {
  it('shows 16 characters of a generated key but never more than a third of a short one', () => {
    expect(keyPrefixOf(`sk-aigw-${'A'.repeat(43)}`)).toBe('sk-aigw-AAAAAAAA');
    expect(keyPrefixOf('abcdefghijkl')).toBe('abcd');
  });
});
