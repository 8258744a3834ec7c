import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/** What clients choose freely: none of it may become a label value. */
const CLIENT_MARK = 'clientchosen';
/** prom-client's default process metrics (`collectDefaultMetrics`), after the app name of a scraped series. */
const PROCESS_METRIC = / aigw_(?:nodejs|process)_/;

/**
 * The label sets of every process's /metrics are bounded by the catalog and the code, not by what clients send:
 * driven through the real processes (api-gateway, router-worker, health-monitor) with requests naming models nobody
 * serves (sync, streamed, async, embeddings, Anthropic's API), paths no route takes and request ids of their own,
 * a second round of new names adds no series. And each exposition follows Prometheus' naming: counters end in
 * `_total`, latency histograms are in `_seconds`, everything under `aigw_`.
 */
describe('metrics cardinality and names (e2e)', () => {
  const system = new TestSystem({ workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  async function round(from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) {
      const model = `${CLIENT_MARK}-model-${i}`;
      const headers = { ...system.headers(), 'x-request-id': `${CLIENT_MARK}-rid-${i}` };
      const messages = [{ role: 'user', content: `hello ${i}` }];
      const calls = [
        fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model, messages }),
        }),
        fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model, messages, stream: true }),
        }),
        fetch(`${system.gatewayUrl}/api/v1/ai/jobs`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model, prompt: `hello ${i}` }),
        }),
        fetch(`${system.gatewayUrl}/v1/embeddings`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model, input: 'x' }),
        }),
        fetch(`${system.gatewayUrl}/v1/messages`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model, max_tokens: 8, messages }),
        }),
        fetch(`${system.gatewayUrl}/${CLIENT_MARK}/path/${i}?q=${i}`, { headers }),
        fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${CLIENT_MARK}-job-${i}`, { headers }),
        // A served model, so the success series exist from the first round.
        fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: `served ${i % 2}` }] }),
        }),
      ];
      for (const res of await Promise.all(calls)) {
        await res.text();
      }
    }
  }

  /** Every app's exposition: its sample lines and its `# TYPE` lines. */
  async function scrape(): Promise<{ samples: string[]; types: Map<string, string>; text: string }> {
    const samples: string[] = [];
    const types = new Map<string, string>();
    let text = '';
    for (const app of system.apps) {
      const body = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
      text += body;
      for (const line of body.split('\n')) {
        const type = /^# TYPE (\S+) (\S+)$/.exec(line);
        if (type !== null) {
          types.set(type[1], type[2]);
        } else if (line !== '' && !line.startsWith('#')) {
          // The series: the name and labels, without the value.
          samples.push(`${app.name} ${line.slice(0, line.lastIndexOf(' '))}`);
        }
      }
    }
    return { samples, types, text };
  }

  it('adds no series for new client-chosen model names, paths or request ids', async () => {
    await round(0, 10);
    // Async jobs are counted when a worker ends them, and the usage rows of the round when the worker's usage queue
    // has recorded them: series of fixed names that appear late, not a client's doing.
    await waitFor(async () => {
      const { text } = await scrape();
      return text.includes('status="model_not_found"') && text.includes('name="record-usage"') ? true : null;
    });
    const first = await scrape();
    await round(10, 60);
    const second = await scrape();
    // prom-client's process metrics come and go with the process (a GC kind first seen), never with clients.
    const added = second.samples.filter((s) => !first.samples.includes(s) && !PROCESS_METRIC.test(s));
    expect(added).toEqual([]);
    expect(second.text).not.toContain(CLIENT_MARK);
    expect(second.text).not.toContain(system.adminKey);
    expect(second.text).not.toContain('sk-sim-secret');
  }, 120_000);

  it('names every family by the conventions', async () => {
    const { types } = await scrape();
    expect(types.size).toBeGreaterThan(20);
    for (const [name, type] of types) {
      expect(name).toMatch(/^aigw_/);
      if (PROCESS_METRIC.test(` ${name}`)) {
        // prom-client's own names (`aigw_nodejs_active_resources_total` is its gauge): not ours to rename.
        continue;
      }
      if (type === 'counter') {
        expect(name).toMatch(/_total$/);
      } else {
        expect(name).not.toMatch(/_total$/);
      }
      if (type === 'histogram' && /latency|duration|overhead/.test(name)) {
        expect(name).toMatch(/_seconds$/);
      }
    }
  });
});
