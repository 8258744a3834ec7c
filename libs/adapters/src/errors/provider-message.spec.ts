import { MAX_MESSAGE_CHARS, safeMessage } from './provider-message';

describe('safeMessage', () => {
  // A key of no known format (a HuggingFace token, a proxy's virtual key): only the key itself can find it.
  const key = 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123';

  it.each([1, 3, 7, 8, 20])('hides a key the cut would split after its first %i characters', (head) => {
    const echoed = `${'x'.repeat(MAX_MESSAGE_CHARS - 2 - head)} ${key} ${'was revoked, '.repeat(5)}`;
    const safe = safeMessage(echoed, key);
    expect(safe).toHaveLength(MAX_MESSAGE_CHARS);
    expect(safe.endsWith('…')).toBe(true);
    expect(safe).not.toContain(` ${key.slice(0, head)}`);
    expect(safe.slice(safe.lastIndexOf('x') + 1)).toMatch(/^ \[/);
  });

  it('keeps the words around a hidden key, and a long message without it whole up to the cut', () => {
    expect(safeMessage(`key ${key} revoked`, key)).toBe('key [redacted] revoked');
    const long = 'y'.repeat(MAX_MESSAGE_CHARS + 10);
    expect(safeMessage(long, key)).toBe(`${'y'.repeat(MAX_MESSAGE_CHARS - 1)}…`);
  });
});
