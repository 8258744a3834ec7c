import { validateHeaderValue } from 'node:http';
import { formatUsd, gatewayHeaders, headerValue } from './result-headers';

describe('formatUsd', () => {
  it('writes fixed-point without trailing zeros', () => {
    expect(formatUsd(0.000007)).toBe('0.000007');
    expect(formatUsd(1.5e-7)).toBe('0.00000015');
    expect(formatUsd(0)).toBe('0');
    expect(formatUsd(12.5)).toBe('12.5');
    expect(formatUsd(3)).toBe('3');
  });
});

describe('gatewayHeaders', () => {
  const head = { provider: 'ds', attempts: 1, route: 'direct' };

  it('names a model of printable ASCII as it is', () => {
    for (const model of ['gpt-4o', 'qwen2.5:7b', 'models/gemini-1.5-pro', 'a 100% b']) {
      expect(gatewayHeaders({ ...head, model }, 'miss')['x-gateway-model']).toBe(model);
    }
  });

  it('percent-encodes any other model name into a value Node sends, which decodes back to the name', () => {
    for (const model of ['deepseek-r1-满血版', 'mödel 😀', 'tab\there', 'line\r\nx-injected: 1', '50%-ü']) {
      // The name as it was given: Node refuses it (or sends Latin-1 bytes for ü).
      const value = gatewayHeaders({ ...head, model }, 'miss')['x-gateway-model'];
      expect(() => validateHeaderValue('x-gateway-model', value)).not.toThrow();
      expect(value).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeURIComponent(value)).toBe(model);
    }
    expect(() => validateHeaderValue('x-gateway-model', 'deepseek-r1-满血版')).toThrow();
  });

  it('writes a lone surrogate as U+FFFD rather than throwing', () => {
    expect(headerValue('a\ud800b')).toBe('a%EF%BF%BDb');
  });
});
