import { Counter, type CounterConfiguration, type LabelValues } from 'prom-client';

interface Tally<T extends string> {
  readonly labels: LabelValues<T>;
  value: number;
}

/**
 * A labelled Counter for the request path. prom-client hashes and checks the label set on every `inc` (~250 ns; a
 * `labels()` child does the same, it only binds the set), and the router-worker made six such calls per request.
 * `add` finds the series' tally by a key the caller builds from the label values (one Map lookup) and adds to it;
 * the tallies go into the Counter whenever it is read (its `collect`: a scrape, `get()`), so what is exported is
 * what `inc` would have exported. The first `add` of a series and any value `inc` refuses (negative, NaN, infinite)
 * go through `inc` itself: unknown labels and bad values throw at the call, as before.
 */
export class TalliedCounter<T extends string> {
  readonly counter: Counter<T>;
  private readonly tallies = new Map<string, Tally<T>>();

  constructor(config: Omit<CounterConfiguration<T>, 'collect'>) {
    this.counter = new Counter<T>({ ...config, collect: this.flush });
  }

  /**
   * Adds `value` (default 1) to the series `labels`. `key` names the label values, one to one: the values joined
   * with `KEY_SEPARATOR`, in a fixed order.
   */
  add(key: string, labels: LabelValues<T>, value = 1): void {
    const tally = this.tallies.get(key);
    if (tally !== undefined && value >= 0 && value < Infinity) {
      tally.value += value;
      return;
    }
    this.counter.inc(labels, value);
    if (tally === undefined) {
      this.tallies.set(key, { labels, value: 0 });
    }
  }

  private readonly flush = (): void => {
    for (const tally of this.tallies.values()) {
      if (tally.value !== 0) {
        this.counter.inc(tally.labels, tally.value);
        tally.value = 0;
      }
    }
  };
}

/** What joins label values in a TalliedCounter key: a character no provider, model or status name holds. */
export const KEY_SEPARATOR = '\u0000';
