import { DEFAULT_DATABASE_URL } from '@aigw/core';
import { parseKeysArgs, USAGE, UsageError } from './args';

describe('parseKeysArgs', () => {
  it('parses create with and without options', () => {
    expect(parseKeysArgs(['create', '--user', 'alice'])).toEqual({ kind: 'create', user: 'alice', admin: false });
    expect(parseKeysArgs(['create', '--user=ops', '--admin', '--name', 'ci runner'])).toEqual({
      kind: 'create',
      user: 'ops',
      admin: true,
      name: 'ci runner',
    });
  });

  it('parses expiry, allowed models and rates', () => {
    expect(
      parseKeysArgs([
        'create',
        '--user',
        'ci',
        '--expires',
        '2999-01-31T00:00:00Z',
        '--models',
        'gpt-4o, openai/*,gpt-4o',
        '--rpm',
        '60',
        '--tpm=6000',
      ]),
    ).toEqual({
      kind: 'create',
      user: 'ci',
      admin: false,
      expiresAt: new Date('2999-01-31T00:00:00Z'),
      allowedModels: ['gpt-4o', 'openai/*'],
      rpm: 60,
      tpm: 6000,
    });
  });

  it('takes a user name and a key label as long as the admin API does (200 characters)', () => {
    expect(parseKeysArgs(['create', '--user', 'u'.repeat(200), '--name', 'n'.repeat(200)])).toMatchObject({
      user: 'u'.repeat(200),
      name: 'n'.repeat(200),
    });
  });

  it('parses users', () => {
    expect(parseKeysArgs(['users'])).toEqual({ kind: 'users' });
  });

  it('parses list, revoke and help', () => {
    expect(parseKeysArgs(['list'])).toEqual({ kind: 'list' });
    expect(parseKeysArgs(['revoke', 'sk-aigw-abcd1234'])).toEqual({ kind: 'revoke', target: 'sk-aigw-abcd1234' });
    expect(parseKeysArgs(['help'])).toEqual({ kind: 'help' });
    expect(parseKeysArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    [[], 'missing command'],
    [['make'], "unknown command 'make'"],
    [['create'], 'create needs --user NAME'],
    [['create', '--user', ' '], 'create needs --user NAME'],
    [['create', '--user'], "Option '--user <value>' argument missing"],
    [['create', '--user', 'a', '--role', 'x'], "Unknown option '--role'"],
    [['create', '--user', 'a', 'extra'], 'Unexpected argument'],
    [['create', '--user', 'u'.repeat(201)], '--user must be at most 200 characters (it has 201)'],
    [['create', '--user', 'a', '--name', 'n'.repeat(100_000)], '--name must be at most 200 characters'],
    [['list', '--all'], "Unknown option '--all'"],
    [['revoke'], 'revoke needs the id, the prefix or the whole of a key'],
    [['revoke', 'a', 'b'], "unexpected argument 'b'"],
    [['create', '--user', 'a', '--expires', 'tomorrow'], '--expires needs an ISO date-time'],
    [['create', '--user', 'a', '--expires', '2999-01-01T00:00:00'], '--expires needs an ISO date-time'],
    [['create', '--user', 'a', '--expires', '2001-01-01T00:00:00Z'], '--expires must lie in the future'],
    // Days that do not exist: JavaScript's Date would read them as 2 March (the admin API refuses them too).
    [['create', '--user', 'a', '--expires', '2999-02-30T00:00:00Z'], '--expires needs an ISO date-time'],
    [['create', '--user', 'a', '--expires', '2999-04-31T00:00:00+02:00'], '--expires needs an ISO date-time'],
    [['create', '--user', 'a', '--models', 'a,,b'], "--models: ''"],
    [['create', '--user', 'a', '--models', 'open*'], "--models: 'open*'"],
    [['create', '--user', 'a', '--rpm', '0'], '--rpm needs a whole number'],
    [['create', '--user', 'a', '--tpm', '1.5'], '--tpm needs a whole number'],
    // The admin API's bound: more does not fit the column (a database error after the user was created).
    [['create', '--user', 'a', '--rpm', '10000000000'], '--rpm needs a whole number from 1 to 1000000000'],
    [['users', 'x'], "Unexpected argument 'x'"],
  ])('rejects %j', (argv, message) => {
    expect(() => parseKeysArgs(argv)).toThrow(UsageError);
    expect(() => parseKeysArgs(argv)).toThrow(message);
  });
});

describe('USAGE', () => {
  it("gives the DATABASE_URL the CLI falls back to, the apps' default, instead of calling it required", () => {
    expect(USAGE).not.toMatch(/required/);
    expect(USAGE).toContain(`(default: ${DEFAULT_DATABASE_URL}, as the apps)`);
  });
});
