import { parseSecretsArgs, USAGE, UsageError } from './args';

describe('parseSecretsArgs', () => {
  it('parses the commands', () => {
    expect(parseSecretsArgs(['rotate'])).toEqual({ kind: 'rotate' });
    expect(parseSecretsArgs(['check'])).toEqual({ kind: 'check' });
    expect(parseSecretsArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    [[], 'missing command'],
    [['rotat'], "unknown command 'rotat'"],
    [['rotate', '--force'], "unexpected argument '--force'"],
  ])('refuses %j', (argv, message) => {
    expect(() => parseSecretsArgs(argv)).toThrow(new UsageError(message));
  });

  it('documents both variables of the keys', () => {
    expect(USAGE).toContain('SECRETS_KEY_PREVIOUS');
    expect(USAGE).toContain('npm run secrets -- <command>');
  });
});
