import { Counter, Registry } from 'prom-client';
import { KEY_SEPARATOR as SEP, TalliedCounter } from './tallied-counter';

const key = (...values: string[]): string => values.join(SEP);

/** The same adds through a TalliedCounter and a plain Counter, read back as an operator's scrape reads them. */
async function both(adds: [string, string, number | undefined][]): Promise<[string, string]> {
  const tallied = new Registry();
  const plain = new Registry();
  const t = new TalliedCounter({ name: 'x_total', help: 'h', labelNames: ['provider', 'model'], registers: [tallied] });
  const c = new Counter({ name: 'x_total', help: 'h', labelNames: ['provider', 'model'], registers: [plain] });
  for (const [provider, model, value] of adds) {
    t.add(key(provider, model), { provider, model }, value);
    c.inc({ provider, model }, value);
  }
  return [await tallied.metrics(), await plain.metrics()];
}

describe('TalliedCounter: inc without hashing the labels, exported as inc would export it', () => {
  it('exports what the same incs of a Counter export, series by series and in the same order', async () => {
    const [tallied, plain] = await both([
      ['sim', 'gpt', undefined],
      ['sim', 'gpt', 3],
      ['other', 'm/with/slashes', 0],
      ['sim', 'gpt', 0.25],
      ['other', 'm/with/slashes', 7],
      ['nan', 'x', Number.NaN], // inc takes NaN (and the series reads NaN from then on): so does add
      ['nan', 'x', 1],
    ]);
    expect(tallied).toBe(plain);
    expect(tallied).toContain('x_total{provider="sim",model="gpt"} 4.25');
  });

  it('adds to the counter at every read, and only what came since the last one', async () => {
    const registry = new Registry();
    const t = new TalliedCounter({ name: 'y_total', help: 'h', labelNames: ['a'], registers: [registry] });
    t.add('1', { a: '1' }, 2);
    t.add('1', { a: '1' }, 5);
    expect((await t.counter.get()).values).toEqual([{ labels: { a: '1' }, value: 7 }]);
    t.add('1', { a: '1' });
    expect(await registry.metrics()).toContain('y_total{a="1"} 8');
    expect((await t.counter.get()).values).toEqual([{ labels: { a: '1' }, value: 8 }]);
  });

  it('refuses at the call what inc refuses, on a new series and on a known one alike', () => {
    const t = new TalliedCounter({ name: 'z_total', help: 'h', labelNames: ['a'], registers: [] });
    expect(() => t.add('b', { b: '1' } as unknown as { a: string })).toThrow(/label/i);
    t.add('1', { a: '1' });
    expect(() => t.add('1', { a: '1' }, -1)).toThrow('It is not possible to decrease a counter');
    expect(() => t.add('1', { a: '1' }, Infinity)).toThrow(TypeError);
  });
});
