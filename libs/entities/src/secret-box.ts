import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigurationError } from '@aigw/core';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

// Public by design: only for development, so that a fresh checkout runs without setup.
const DEVELOPMENT_KEY = createHash('sha256').update('aigw development secrets key - not for production').digest();

export class SecretBoxError extends ConfigurationError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SecretBoxError';
  }
}

const KEY_FORMAT = '32 bytes given as 64 hex characters or as base64 (e.g. `openssl rand -base64 32`)';

/** `keyText` as a 32-byte key (64 hex characters or base64); the message names `variable`, never the value. */
function parseKey(keyText: string, variable: string): Buffer {
  const text = keyText.trim();
  const isHex = /^[0-9a-fA-F]{64}$/.test(text);
  const key = Buffer.from(text, isHex ? 'hex' : 'base64');
  // Buffer.from skips characters outside the alphabet; the round trip catches typos.
  const canonical = isHex || key.toString('base64') === normalizeBase64(text);
  if (key.length !== 32 || !canonical) {
    throw new SecretBoxError(`${variable} must be ${KEY_FORMAT}`);
  }
  return key;
}

/**
 * SECRETS_KEY_PREVIOUS: old keys, comma-separated (base64 and hex hold no comma), each in SECRETS_KEY's format.
 * Blank: none. A bad item is named by its position, never echoed.
 */
function parsePreviousKeys(text: string | undefined): Buffer[] {
  const items = (text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return items.map((item, i) => {
    try {
      return parseKey(item, 'SECRETS_KEY_PREVIOUS');
    } catch {
      throw new SecretBoxError(
        `SECRETS_KEY_PREVIOUS must list keys separated by commas, each ${KEY_FORMAT}; key ${i + 1} of ${items.length} is not one`,
      );
    }
  });
}

/** A decrypted secret, and whether it was sealed under the current key (false: under a previous one). */
export interface OpenedSecret {
  plaintext: string;
  underCurrentKey: boolean;
}

/**
 * Encrypts provider secrets at rest: AES-256-GCM with a random 96-bit IV per value, stored as
 * `v1:<iv>:<tag>:<ciphertext>` (base64). Seals under the current key (SECRETS_KEY); opens under it or any previous
 * one (SECRETS_KEY_PREVIOUS), so the key can be rotated: old envelopes stay readable until re-sealed.
 */
export class SecretBox {
  private constructor(
    private readonly key: Buffer,
    private readonly previousKeys: readonly Buffer[] = [],
  ) {}

  /** `keyText`: 32 bytes as 64 hex characters or as base64. `previousKeysText`: as SECRETS_KEY_PREVIOUS. */
  static fromKey(keyText: string, previousKeysText?: string): SecretBox {
    return new SecretBox(parseKey(keyText, 'SECRETS_KEY'), parsePreviousKeys(previousKeysText));
  }

  /** Throws, naming SECRETS_KEY_PREVIOUS (never a key), when `text` is no list of keys. */
  static checkPreviousKeys(text: string): void {
    parsePreviousKeys(text);
  }

  /**
   * The box for SECRETS_KEY (and SECRETS_KEY_PREVIOUS). SECRETS_KEY unset outside production: a fixed development
   * key, flagged so the caller can warn. Unset in production: an error, since secrets would be readable by anyone.
   */
  static fromEnv(
    value: string | undefined,
    nodeEnv: string | undefined,
    previous?: string,
  ): { box: SecretBox; usingDevelopmentKey: boolean } {
    if (value !== undefined && value.trim() !== '') {
      return { box: SecretBox.fromKey(value, previous), usingDevelopmentKey: false };
    }
    if (nodeEnv === 'production') {
      throw new SecretBoxError(
        'SECRETS_KEY is required in production: set it to 32 random bytes (e.g. `openssl rand -base64 32`)',
      );
    }
    return { box: new SecretBox(DEVELOPMENT_KEY, parsePreviousKeys(previous)), usingDevelopmentKey: true };
  }

  /** How many keys this box holds: SECRETS_KEY, then each of SECRETS_KEY_PREVIOUS. */
  get keyCount(): number {
    return 1 + this.previousKeys.length;
  }

  /**
   * Seals under SECRETS_KEY; `keyIndex` > 0, under that previous key instead: only for a message to a process that may
   * not hold SECRETS_KEY yet (mid-rotation), never for what is stored.
   */
  encrypt(plaintext: string, keyIndex = 0): string {
    const key = keyIndex === 0 ? this.key : this.previousKeys[keyIndex - 1];
    if (key === undefined) {
      throw new RangeError(`no key ${keyIndex} (${this.keyCount} held)`);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64'), tag.toString('base64'), ciphertext.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    return this.open(sealed).plaintext;
  }

  /** Decrypts under the current key, else under each previous key in turn. */
  open(sealed: string): OpenedSecret {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new SecretBoxError('stored secret is not in the v1 format');
    }
    const [, iv, tag, ciphertext] = parts.map((p) => Buffer.from(p, 'base64'));
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError('stored secret is not in the v1 format');
    }
    let failure: unknown;
    for (const [i, key] of [this.key, ...this.previousKeys].entries()) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAuthTag(tag);
        const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
        return { plaintext, underCurrentKey: i === 0 };
      } catch (err) {
        // GCM authenticates: a wrong key fails here, it never yields garbage.
        failure ??= err;
      }
    }
    throw new SecretBoxError(
      this.previousKeys.length === 0
        ? 'cannot decrypt a stored secret: SECRETS_KEY differs from the key it was encrypted with (after changing ' +
            'SECRETS_KEY, set the old key in SECRETS_KEY_PREVIOUS), or the value is corrupt'
        : 'cannot decrypt a stored secret: neither SECRETS_KEY nor any key in SECRETS_KEY_PREVIOUS is the key it was encrypted with, or the value is corrupt',
      { cause: failure },
    );
  }
}

function normalizeBase64(text: string): string {
  const std = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  return std + '='.repeat((4 - (std.length % 4)) % 4);
}
