import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

// Public by design: only for development, so that a fresh checkout runs without setup.
const DEVELOPMENT_KEY = createHash('sha256').update('aigw development secrets key - not for production').digest();

export class SecretBoxError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SecretBoxError';
  }
}

/**
 * Encrypts provider secrets at rest: AES-256-GCM with a random 96-bit IV per value, stored as
 * `v1:<iv>:<tag>:<ciphertext>` (base64). The version prefix leaves room for key rotation.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** `keyText`: 32 bytes as 64 hex characters or as base64. */
  static fromKey(keyText: string): SecretBox {
    const text = keyText.trim();
    const isHex = /^[0-9a-fA-F]{64}$/.test(text);
    const key = Buffer.from(text, isHex ? 'hex' : 'base64');
    // Buffer.from skips characters outside the alphabet; the round trip catches typos.
    const canonical = isHex || key.toString('base64') === normalizeBase64(text);
    if (key.length !== 32 || !canonical) {
      throw new SecretBoxError(
        'SECRETS_KEY must be 32 bytes given as 64 hex characters or as base64 (e.g. `openssl rand -base64 32`)',
      );
    }
    return new SecretBox(key);
  }

  /**
   * The box for SECRETS_KEY. Unset outside production: a fixed development key, flagged so the
   * caller can warn. Unset in production: an error, since secrets would be readable by anyone.
   */
  static fromEnv(
    value: string | undefined,
    nodeEnv: string | undefined,
  ): { box: SecretBox; usingDevelopmentKey: boolean } {
    if (value !== undefined && value.trim() !== '') {
      return { box: SecretBox.fromKey(value), usingDevelopmentKey: false };
    }
    if (nodeEnv === 'production') {
      throw new SecretBoxError(
        'SECRETS_KEY is required in production: set it to 32 random bytes (e.g. `openssl rand -base64 32`)',
      );
    }
    return { box: new SecretBox(DEVELOPMENT_KEY), usingDevelopmentKey: true };
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64'), tag.toString('base64'), ciphertext.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new SecretBoxError('stored secret is not in the v1 format');
    }
    const [, iv, tag, ciphertext] = parts.map((p) => Buffer.from(p, 'base64'));
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError('stored secret is not in the v1 format');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new SecretBoxError(
        'cannot decrypt a stored secret: SECRETS_KEY differs from the key it was encrypted with, or the value is corrupt',
        { cause: err },
      );
    }
  }
}

function normalizeBase64(text: string): string {
  const std = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  return std + '='.repeat((4 - (std.length % 4)) % 4);
}
