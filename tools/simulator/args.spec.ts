import { parseSimulatorArgs, SIMULATOR_USAGE } from './args';
import { SIMULATOR_VARIABLES } from './env';

describe('parseSimulatorArgs', () => {
  it('starts with no arguments, and shows the usage for --help, -h or help', () => {
    expect(parseSimulatorArgs([])).toEqual({ kind: 'run' });
    for (const help of ['--help', '-h', 'help']) {
      expect(parseSimulatorArgs([help])).toEqual({ kind: 'help' });
    }
  });

  it('refuses any other argument instead of ignoring it and starting', () => {
    for (const argv of [['--port', '9200'], ['start'], ['--help', 'extra']]) {
      const parsed = parseSimulatorArgs(argv);
      expect(parsed.kind).toBe('usage-error');
      expect(parsed.kind === 'usage-error' && parsed.message).toContain(`unexpected argument '${argv[0]}'`);
    }
  });

  it('names every variable the simulator reads', () => {
    for (const variable of SIMULATOR_VARIABLES) {
      expect(SIMULATOR_USAGE).toMatch(new RegExp(`^  ${variable} `, 'm'));
    }
  });
});
