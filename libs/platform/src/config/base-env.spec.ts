import { InvalidEnvironmentError, validateEnv } from '@aigw/core';
import { BaseEnv } from './base-env';

function problem(env: Record<string, string>): string {
  try {
    validateEnv(BaseEnv, env);
  } catch (err) {
    if (err instanceof InvalidEnvironmentError) {
      return err.message;
    }
    throw err;
  }
  return '';
}

describe('BaseEnv', () => {
  it('reads the usual words for a boolean, and refuses any other naming the variable', () => {
    for (const [text, value] of [
      ['true', true],
      ['ON', true],
      ['1', true],
      ['no', false],
      ['False', false],
      ['0', false],
    ] as const) {
      expect(validateEnv(BaseEnv, { DB_SKIP_MIGRATIONS: text }).DB_SKIP_MIGRATIONS).toBe(value);
    }
    expect(validateEnv(BaseEnv, {}).DB_SKIP_MIGRATIONS).toBe(false);
    expect(problem({ DB_SKIP_MIGRATIONS: 'ture' })).toContain('DB_SKIP_MIGRATIONS must be a boolean value');
  });

  it('checks SECRETS_KEY with the rest, without echoing it', () => {
    expect(problem({ SECRETS_KEY: 'a'.repeat(64) })).toBe('');
    const message = problem({ SECRETS_KEY: 'notvalid-secret-text' });
    expect(message).toContain('SECRETS_KEY must be 32 bytes');
    expect(message).not.toContain('notvalid-secret-text');
  });
});
