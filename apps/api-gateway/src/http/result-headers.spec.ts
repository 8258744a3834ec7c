import { formatUsd } from './result-headers';

describe('formatUsd', () => {
  it('writes fixed-point without trailing zeros', () => {
    expect(formatUsd(0.000007)).toBe('0.000007');
    expect(formatUsd(1.5e-7)).toBe('0.00000015');
    expect(formatUsd(0)).toBe('0');
    expect(formatUsd(12.5)).toBe('12.5');
    expect(formatUsd(3)).toBe('3');
  });
});
