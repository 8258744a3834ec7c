import { presentedKey } from './credentials';

describe('presentedKey', () => {
  it('reads a bearer token, case-insensitively on the scheme', () => {
    expect(presentedKey({ authorization: 'Bearer sk-abc' })).toBe('sk-abc');
    expect(presentedKey({ authorization: 'bearer   sk-abc ' })).toBe('sk-abc');
  });

  it('falls back to x-api-key', () => {
    expect(presentedKey({ 'x-api-key': ' sk-xyz ' })).toBe('sk-xyz');
    expect(presentedKey({ authorization: 'Basic dXNlcjpwdw==', 'x-api-key': 'sk-xyz' })).toBe('sk-xyz');
  });

  it('is null without a usable key', () => {
    expect(presentedKey({})).toBeNull();
    expect(presentedKey({ authorization: 'Bearer' })).toBeNull();
    expect(presentedKey({ authorization: 'Bearer a b' })).toBeNull();
    expect(presentedKey({ 'x-api-key': '  ' })).toBeNull();
  });
});
