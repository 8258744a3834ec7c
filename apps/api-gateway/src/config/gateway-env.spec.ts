import { InvalidEnvironmentError, validateEnv } from '@aigw/core';
import { GatewayEnv, trustProxyOf } from './gateway-env';

function problem(env: Record<string, string>): string {
  try {
    validateEnv(GatewayEnv, env);
  } catch (err) {
    return err instanceof InvalidEnvironmentError ? err.message : String(err);
  }
  return '';
}

describe('GatewayEnv', () => {
  it('refuses a BOOTSTRAP_ADMIN_KEY no request could send (a space, an inner line break), without echoing it', () => {
    expect(problem({ BOOTSTRAP_ADMIN_KEY: 'sk-bootstrap-secret-1' })).toBe('');
    for (const key of ['sk-bootstrap-secret-1 ', 'sk-bootstrap secret-1', 'sk-bootstrap\nsecret-1']) {
      const message = problem({ BOOTSTRAP_ADMIN_KEY: key });
      expect(message).toBe(
        'Invalid environment variables:\n  - BOOTSTRAP_ADMIN_KEY: BOOTSTRAP_ADMIN_KEY must not hold spaces or line breaks: no request could send it',
      );
      expect(message).not.toContain('bootstrap');
    }
  });

  it('reads ADMIN_KEY_VARIABLES as names and * patterns (default *_API_KEY,HF_TOKEN), naming what is not one', () => {
    expect(validateEnv(GatewayEnv, {}).ADMIN_KEY_VARIABLES).toEqual(['*_API_KEY', 'HF_TOKEN']);
    expect(validateEnv(GatewayEnv, { ADMIN_KEY_VARIABLES: ' *_API_KEY, MY_LLM_KEY,' }).ADMIN_KEY_VARIABLES).toEqual([
      '*_API_KEY',
      'MY_LLM_KEY',
    ]);
    // Empty is unset, as for every variable.
    expect(validateEnv(GatewayEnv, { ADMIN_KEY_VARIABLES: '' }).ADMIN_KEY_VARIABLES).toEqual(['*_API_KEY', 'HF_TOKEN']);
    expect(problem({ ADMIN_KEY_VARIABLES: 'OPENAI_API_KEY,${HOME},MY-KEY' })).toBe(
      'Invalid environment variables:\n  - ADMIN_KEY_VARIABLES: ADMIN_KEY_VARIABLES must list variable names (letters, ' +
        "digits, _), comma-separated, `*` standing for any characters (e.g. *_API_KEY,HF_TOKEN): '${HOME}', 'MY-KEY' " +
        'is not one',
    );
  });

  it('drops the trailing line break of a BOOTSTRAP_ADMIN_KEY from a Secret made from a file', () => {
    for (const key of ['sk-bootstrap-secret-1\n', 'sk-bootstrap-secret-1\r\n']) {
      expect(problem({ BOOTSTRAP_ADMIN_KEY: key })).toBe('');
      expect(validateEnv(GatewayEnv, { BOOTSTRAP_ADMIN_KEY: key }).BOOTSTRAP_ADMIN_KEY).toBe('sk-bootstrap-secret-1');
    }
  });

  it.each([
    ['SYNC_JOB_RETENTION_S', 2_592_000],
    ['ASYNC_JOB_RETENTION_S', 2_592_000],
    ['IDEMPOTENCY_TTL_S', 2_592_000],
    ['QUOTA_DEFAULT_MAX_TOKENS', 1_000_000],
    ['RATE_LIMIT_RPM', 1_000_000_000],
    ['RATE_LIMIT_TPM', 1_000_000_000],
    ['MODELS_PUBLIC_RPM', 1_000_000_000],
    ['MAX_PENDING_REQUESTS', 1_000_000],
  ])('bounds %s at %d: a larger value (Redis refused the expiry) is refused at boot, naming it', (name, max) => {
    expect(problem({ [name]: String(max) })).toBe('');
    expect(problem({ [name]: String(max + 1) })).toBe(
      `Invalid environment variables:\n  - ${name}: ${name} must not be greater than ${max}`,
    );
    expect(problem({ [name]: '100000000000000000000' })).toContain(`${name} must not be greater than ${max}`);
  });

  it('bounds the requests a process holds at 5000 by default; 0 lifts the bound, a negative count is refused', () => {
    expect(validateEnv(GatewayEnv, {}).MAX_PENDING_REQUESTS).toBe(5_000);
    expect(validateEnv(GatewayEnv, { MAX_PENDING_REQUESTS: '0' }).MAX_PENDING_REQUESTS).toBe(0);
    expect(problem({ MAX_PENDING_REQUESTS: '-1' })).toContain('MAX_PENDING_REQUESTS must not be less than 0');
    expect(problem({ MAX_PENDING_REQUESTS: '2.5' })).toContain('MAX_PENDING_REQUESTS');
  });

  describe('TRUST_PROXY', () => {
    it('reads true, false, and lists of addresses, CIDR ranges and named ranges', () => {
      expect(trustProxyOf('false')).toBe(false);
      expect(trustProxyOf('true')).toBe(true);
      expect(trustProxyOf('10.0.0.0/8, 192.168.1.7,loopback, fd00::/8, ::1')).toEqual([
        '10.0.0.0/8',
        '192.168.1.7',
        'loopback',
        'fd00::/8',
        '::1',
      ]);
      expect(validateEnv(GatewayEnv, { TRUST_PROXY: '10.0.0.0/8,uniquelocal' }).TRUST_PROXY).toBe(
        '10.0.0.0/8,uniquelocal',
      );
    });

    it.each([
      ['1', /'1' is not an address \(hop counts are not supported/],
      ['2', /hop counts are not supported/],
      ['10.0.0.0/99', /'10.0.0.0\/99' has a prefix length outside 0-32/],
      ['fd00::/200', /outside 0-128/],
      [
        'proxy.internal',
        /'proxy.internal' is not an IP address, CIDR range or one of loopback, linklocal, uniquelocal/,
      ],
      ['10.0.0.1,', /'' is not an IP address/],
      ['300.1.1.1', /'300.1.1.1' is not an IP address/],
    ])('refuses %j at boot, naming the variable and the entry', (value, why) => {
      const message = problem({ TRUST_PROXY: value });
      expect(message).toContain('TRUST_PROXY');
      expect(message).toMatch(why);
    });
  });
  describe('CORS_ORIGINS', () => {
    it('is empty by default (no CORS), and takes * or exact origins', () => {
      expect(validateEnv(GatewayEnv, {}).CORS_ORIGINS).toBe('');
      expect(problem({ CORS_ORIGINS: '*' })).toBe('');
      expect(problem({ CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' })).toBe('');
    });

    it('refuses an entry no browser would send as its Origin, at boot, naming the variable and the fix', () => {
      expect(problem({ CORS_ORIGINS: 'https://app.example.com/' })).toBe(
        'Invalid environment variables:\n  - CORS_ORIGINS: CORS_ORIGINS must be empty, * or a comma-separated list of ' +
          "origins (scheme://host[:port]): 'https://app.example.com/' is not written as browsers send it: write " +
          'https://app.example.com',
      );
    });
  });
});
