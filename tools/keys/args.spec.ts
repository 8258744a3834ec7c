import { parseKeysArgs, UsageError } from './args';

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
    [['list', '--all'], "Unknown option '--all'"],
    [['revoke'], 'revoke needs the id or the prefix of a key'],
    [['revoke', 'a', 'b'], "unexpected argument 'b'"],
  ])('rejects %j', (argv, message) => {
    expect(() => parseKeysArgs(argv)).toThrow(UsageError);
    expect(() => parseKeysArgs(argv)).toThrow(message);
  });
});
