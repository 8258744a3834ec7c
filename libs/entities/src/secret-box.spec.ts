import { randomBytes } from 'node:crypto';
import { SecretBox, SecretBoxError } from './secret-box';

const HEX_KEY = randomBytes(32).toString('hex');

describe('SecretBox', () => {
  const box = SecretBox.fromKey(HEX_KEY);

  it('round-trips in the v1 format with a fresh IV each time', () => {
    const a = box.encrypt('sk-provider-secret');
    const b = box.encrypt('sk-provider-secret');
    expect(a).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('sk-provider-secret');
    expect(box.decrypt(a)).toBe('sk-provider-secret');
    expect(box.decrypt(box.encrypt(''))).toBe('');
    expect(box.decrypt(box.encrypt('ünïcødé ✓'))).toBe('ünïcødé ✓');
  });

  it('detects tampering and a different key', () => {
    const sealed = box.encrypt('secret');
    const [v, iv, tag, ct] = sealed.split(':');
    const flipped = Buffer.from(ct, 'base64');
    flipped[0] ^= 1;
    expect(() => box.decrypt([v, iv, tag, flipped.toString('base64')].join(':'))).toThrow(SecretBoxError);
    const other = SecretBox.fromKey(randomBytes(32).toString('base64'));
    expect(() => other.decrypt(sealed)).toThrow(/SECRETS_KEY differs.*set the old key in SECRETS_KEY_PREVIOUS/);
  });

  it('seals under a previous key when asked (a message to a process mid-rotation), never past the keys held', () => {
    const a = randomBytes(32).toString('hex');
    const b = randomBytes(32).toString('hex');
    const rotating = SecretBox.fromKey(b, a);
    expect(rotating.keyCount).toBe(2);
    const oldOnly = SecretBox.fromKey(a);
    expect(() => oldOnly.decrypt(rotating.encrypt('k'))).toThrow('cannot decrypt');
    expect(oldOnly.decrypt(rotating.encrypt('k', 1))).toBe('k');
    expect(() => rotating.encrypt('k', 2)).toThrow(RangeError);
  });

  it('rejects values not in the v1 format', () => {
    expect(() => box.decrypt('plaintext')).toThrow('not in the v1 format');
    expect(() => box.decrypt('v2:a:b:c')).toThrow('not in the v1 format');
    expect(() => box.decrypt('v1:AAAA:AAAA:AAAA')).toThrow('not in the v1 format');
  });

  it('accepts 32-byte keys as hex, base64 and base64url', () => {
    const raw = randomBytes(32);
    const sealed = SecretBox.fromKey(raw.toString('hex')).encrypt('x');
    expect(SecretBox.fromKey(raw.toString('base64')).decrypt(sealed)).toBe('x');
    expect(SecretBox.fromKey(` ${raw.toString('base64url')}\n`).decrypt(sealed)).toBe('x');
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(48).toString('base64')],
    ['not base64', '!'.repeat(44)],
    ['63 hex chars', 'a'.repeat(63)],
  ])('rejects a key that is %s, without echoing it', (_label, key) => {
    expect(() => SecretBox.fromKey(key)).toThrow(/^SECRETS_KEY must be 32 bytes/);
    try {
      SecretBox.fromKey(key);
    } catch (err) {
      expect((err as Error).message).not.toContain(key);
    }
  });

  describe('fromEnv', () => {
    it('uses the configured key', () => {
      const { box: fromEnv, usingDevelopmentKey } = SecretBox.fromEnv(HEX_KEY, 'production');
      expect(usingDevelopmentKey).toBe(false);
      expect(box.decrypt(fromEnv.encrypt('y'))).toBe('y');
    });

    it('falls back to a fixed development key outside production, flagged', () => {
      const first = SecretBox.fromEnv(undefined, 'development');
      const second = SecretBox.fromEnv('', undefined);
      expect(first.usingDevelopmentKey).toBe(true);
      expect(second.usingDevelopmentKey).toBe(true);
      expect(second.box.decrypt(first.box.encrypt('z'))).toBe('z');
    });

    it('refuses to run without a key in production', () => {
      expect(() => SecretBox.fromEnv(undefined, 'production')).toThrow(/SECRETS_KEY is required in production/);
      expect(() => SecretBox.fromEnv('  ', 'production')).toThrow(SecretBoxError);
    });
  });

  describe('previous keys (SECRETS_KEY_PREVIOUS)', () => {
    const oldHex = randomBytes(32).toString('hex');
    const older = randomBytes(32).toString('base64');
    const underOld = SecretBox.fromKey(oldHex).encrypt('old secret');
    const underOlder = SecretBox.fromKey(older).encrypt('older secret');

    it('opens secrets sealed under any previous key, and says which were not under the current one', () => {
      const rotated = SecretBox.fromKey(HEX_KEY, ` ${oldHex} ,${older},`);
      expect(rotated.open(underOld)).toEqual({ plaintext: 'old secret', underCurrentKey: false });
      expect(rotated.decrypt(underOlder)).toBe('older secret');
      expect(rotated.open(box.encrypt('new'))).toEqual({ plaintext: 'new', underCurrentKey: true });
    });

    it('seals only under the current key', () => {
      const sealed = SecretBox.fromKey(HEX_KEY, oldHex).encrypt('fresh');
      expect(box.decrypt(sealed)).toBe('fresh');
      expect(() => SecretBox.fromKey(oldHex).decrypt(sealed)).toThrow(SecretBoxError);
    });

    it('fails clearly, never with garbage, when no key fits', () => {
      const rotated = SecretBox.fromKey(HEX_KEY, older);
      expect(() => rotated.decrypt(underOld)).toThrow(
        /neither SECRETS_KEY nor any key in SECRETS_KEY_PREVIOUS is the key it was encrypted with/,
      );
    });

    it('applies to the development key too (fromEnv)', () => {
      const { box: dev } = SecretBox.fromEnv(undefined, 'development', oldHex);
      expect(dev.decrypt(underOld)).toBe('old secret');
      expect(SecretBox.fromEnv(HEX_KEY, 'production', oldHex).box.decrypt(underOld)).toBe('old secret');
    });

    it('reads secrets of a development run once the public development key (as README gives it) is a previous key', () => {
      const underDevKey = SecretBox.fromEnv(undefined, 'development').box.encrypt('dev secret');
      const readme = '5f6b355469103365c4871c81125f8d85e7cc18fb009be0afdfbcd27ed8daeed9';
      expect(SecretBox.fromEnv(HEX_KEY, 'production', readme).box.open(underDevKey)).toEqual({
        plaintext: 'dev secret',
        underCurrentKey: false,
      });
    });

    it('refuses a bad list naming the variable and the position, never echoing a key', () => {
      const bad = 'zz-not-a-key-zz';
      for (const text of [`${oldHex},${bad}`, bad]) {
        let message = '';
        try {
          SecretBox.fromKey(HEX_KEY, text);
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message).toMatch(/^SECRETS_KEY_PREVIOUS must list keys separated by commas, each 32 bytes/);
        expect(message).not.toContain(bad);
        expect(message).not.toContain(oldHex);
      }
      expect(() => SecretBox.checkPreviousKeys(`${oldHex},${bad}`)).toThrow('key 2 of 2 is not one');
      expect(() => SecretBox.checkPreviousKeys(' , ')).not.toThrow();
    });
  });
});
