import { ErrorClass, ProviderCallError } from '@aigw/core';
import { MAX_MESSAGE_CHARS, safeMessage, withoutApiKey } from './provider-message';

describe('withoutApiKey', () => {
  const key = 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123';

  it('hides a key that a message cut to length split: its first part is at the cut', () => {
    // A decoder cut the message (it does not hold the key); the key straddled the cut.
    const echoed = `${'x'.repeat(MAX_MESSAGE_CHARS - 20)} key ${key} revoked`;
    const cut = safeMessage(echoed);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut).toContain(key.slice(0, 12));
    const cleaned = withoutApiKey(new ProviderCallError(ErrorClass.Provider, cut), key).message;
    expect(cleaned).not.toContain(key.slice(0, 8));
    expect(cleaned.endsWith('key [redacted]…')).toBe(true);
  });

  it('leaves a cut message alone when what it ends in is not the key', () => {
    const cut = safeMessage(`${'x'.repeat(MAX_MESSAGE_CHARS + 10)}`);
    const err = new ProviderCallError(ErrorClass.Provider, cut);
    expect(withoutApiKey(err, key)).toBe(err);
  });
});
