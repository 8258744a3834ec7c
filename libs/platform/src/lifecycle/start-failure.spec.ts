import { CatalogFileError, ConfigurationError, TierConfigError } from '@aigw/core';
import { SecretBoxError } from '@aigw/entities';
import { StartupError, startFailureReport } from './start-failure';

describe('startFailureReport', () => {
  it('prints every cause (the reason is often one level down)', () => {
    const err = new Error("cannot read the API key of provider 'lit'", {
      cause: new Error('SECRETS_KEY differs from the key it was encrypted with'),
    });
    const report = startFailureReport('api-gateway', err, {});
    expect(report.split('\n')[0]).toBe(
      "[api-gateway] failed to start: cannot read the API key of provider 'lit': SECRETS_KEY differs from the key it was encrypted with",
    );
  });

  it('names REDIS_URL, without its credentials, when Redis could not be reached', () => {
    const err = new Error('Connection is closed.');
    err.stack =
      'Error: Connection is closed.\n    at EventEmitter.connectionCloseHandler (node_modules/ioredis/built/Redis.js:220:28)';
    const report = startFailureReport('router-worker', err, { REDIS_URL: 'redis://u:s3cret@10.0.0.5:6380/0' });
    expect(report).toContain(
      '[router-worker] Redis at 10.0.0.5:6380 cannot be reached: check REDIS_URL and that Redis is up',
    );
    expect(report).not.toContain('s3cret');
    expect(startFailureReport('x', new Error('Connection is closed.'), {})).not.toContain('REDIS_URL');
  });
  it('says Redis refused the login, naming the variable without its credentials, on WRONGPASS or NOAUTH', () => {
    const env = { REDIS_URL: 'redis://app:s3cret@10.0.0.5:6380/2' };
    for (const message of [
      'WRONGPASS invalid username-password pair or user is disabled.',
      'NOAUTH Authentication required.',
    ]) {
      const report = startFailureReport('api-gateway', new Error(message), env);
      expect(report).toContain(
        '[api-gateway] Redis at 10.0.0.5:6380 refused the login: check the user and password in REDIS_URL',
      );
      expect(report).not.toContain('s3cret');
    }
    expect(startFailureReport('x', new Error('ERR unknown command'), env)).not.toContain('refused the login');
  });

  it("writes JSON lines in the apps' log format when LOG_FORMAT=json", () => {
    const err = new Error('Connection is closed.');
    err.stack = 'Error: Connection is closed.\n    at x (node_modules/ioredis/built/Redis.js:1:1)';
    const lines = startFailureReport('api-gateway', err, { LOG_FORMAT: 'json' })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'fatal',
        context: 'api-gateway',
        message: 'failed to start: Connection is closed.',
        stack: err.stack,
      }),
      expect.objectContaining({ level: 'fatal', message: expect.stringContaining('REDIS_URL') }),
    ]);
  });

  it('prints a StartupError as its one line, without a stack or the cause it carries', () => {
    const err = new StartupError('PostgreSQL at db:5432/app cannot be reached (ECONNREFUSED): check DATABASE_URL', {
      cause: new Error('connect ECONNREFUSED'),
    });
    expect(startFailureReport('api-gateway', err, {})).toBe(
      '[api-gateway] failed to start: PostgreSQL at db:5432/app cannot be reached (ECONNREFUSED): check DATABASE_URL\n',
    );
  });

  it("prints an operator's configuration mistake as its message and the configuration errors under it, without a stack", () => {
    const file = new CatalogFileError(['cannot be read (ENOENT)'], 'provider catalog file /etc/aigw/providers.yaml', {
      cause: new Error("ENOENT: no such file or directory, open '/etc/aigw/providers.yaml'"),
    });
    expect(startFailureReport('api-gateway', file, {})).toBe(
      '[api-gateway] failed to start: Invalid provider catalog file /etc/aigw/providers.yaml:\n  - cannot be read (ENOENT)\n',
    );
    const key = new SecretBoxError("cannot read the API key of provider 'lit'", {
      cause: new SecretBoxError('cannot decrypt a stored secret: SECRETS_KEY differs', { cause: new Error('bad tag') }),
    });
    expect(startFailureReport('router-worker', key, {})).toBe(
      "[router-worker] failed to start: cannot read the API key of provider 'lit': cannot decrypt a stored secret: SECRETS_KEY differs\n",
    );
    const tiers = JSON.parse(
      startFailureReport('api-gateway', new TierConfigError(['tiers.pro.rpm: not a number']), { LOG_FORMAT: 'json' }),
    ) as Record<string, unknown>;
    expect(tiers).toMatchObject({
      level: 'fatal',
      message: 'failed to start: invalid tiers: tiers.pro.rpm: not a number',
    });
    expect(tiers).not.toHaveProperty('stack');
  });

  it("prints the stack of a plugin's own code that threw, under its one line, in text and JSON", () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'baseUrl')");
    bug.stack = `${bug.name}: ${bug.message}\n    at createAdapter (/srv/plugins/acme.js:12:30)`;
    const err = new ConfigurationError("provider 'acme': createAdapter threw: Cannot read properties of undefined", {
      cause: bug,
      ownCodeFailed: true,
    });
    expect(startFailureReport('router-worker', err, {})).toBe(
      "[router-worker] failed to start: provider 'acme': createAdapter threw: Cannot read properties of undefined\n" +
        `${bug.stack}\n`,
    );
    const json = JSON.parse(startFailureReport('router-worker', err, { LOG_FORMAT: 'json' })) as Record<
      string,
      unknown
    >;
    expect(json.stack).toContain('/srv/plugins/acme.js:12:30');
  });
});
