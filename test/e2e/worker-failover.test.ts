import { parseSse, waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

/**
 * Worker processes dying or shutting down mid-request must not lose the request. Router-worker processes of their
 * own: the split topology whatever E2E_TOPOLOGY says (an all-in-one worker dies with its gateway; see below).
 */
describe('router-worker failover (e2e)', () => {
  const system = new TestSystem({ topology: 'split', workers: 1 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  function ask(content: string): Promise<Response> {
    return fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content }] }),
    });
  }

  it('a job whose worker is SIGKILLed mid-request is completed by another worker', async () => {
    const [first] = system.workers();
    // Long enough that the first worker is still waiting for it however slowly the second boots on a busy host.
    system.sim.configure({ latencyMs: 30_000 });
    system.sim.reset();
    const pending = ask('survive a crash');
    await waitFor(() => system.sim.stats().inFlight >= 1, {
      timeoutMs: 10_000,
      message: 'request never reached the provider',
    });

    await system.spawnApp('router-worker', await import('@aigw/testing').then((t) => t.freePort()));
    system.sim.configure({ latencyMs: 0 });
    first.child.kill('SIGKILL');
    await first.exited;

    const res = await pending;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0].message.content).toBe('survive a crash');
    // The stalled job was taken over and called the provider again.
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('a stream whose worker dies mid-way is never spliced from two generations: an error event, no [DONE]', async () => {
    const [first] = system.workers();
    // Slow chunks and a long answer (a minute of streaming), so the first worker has streamed some of its answer
    // when it dies, and is still streaming however slowly the second worker boots on a busy host.
    const words = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    system.sim.configure({ latencyMs: 0, chunkDelayMs: 300 });
    system.sim.reset();
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content: words }], stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let sse = '';
    while (!sse.includes('"content":" w2"')) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      sse += new TextDecoder().decode(value);
    }
    await system.spawnApp('router-worker', await import('@aigw/testing').then((t) => t.freePort()));
    // The run that takes over generates another answer (a model at temperature > 0 would).
    system.sim.configure({ echo: false, chunkDelayMs: 0 });
    // Precondition: the first worker's stream is still going when it is killed (it has not sent [DONE]).
    expect(system.sim.stats().inFlight).toBe(1);
    first.child.kill('SIGKILL');
    await first.exited;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      sse += new TextDecoder().decode(value);
    }
    const events = sse.split('\n\n').filter((e) => e.startsWith('data: '));
    const text = events
      .map((e) => e.slice(6))
      .filter((d) => d !== '[DONE]')
      .map(
        (d) => (JSON.parse(d) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content ?? '',
      )
      .join('');
    // Only the dead run's words, then an error: the new run's text is never appended to them.
    expect(text.length).toBeGreaterThan(0);
    expect(words.startsWith(text)).toBe(true);
    expect(events.at(-1)).toContain('"error"');
    expect(events).not.toContain('data: [DONE]');
    system.sim.configure({ echo: true });
  }, 60_000);

  it('SIGTERM lets the in-flight job finish before the worker exits', async () => {
    const spare = await system.spawnApp('router-worker', await import('@aigw/testing').then((t) => t.freePort()));
    const victims = system.workers().filter((w) => w !== spare);
    system.sim.configure({ latencyMs: 1500 });
    system.sim.reset();
    const pending = ask('finish me');
    await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 10_000 });
    for (const w of victims) {
      w.child.kill('SIGTERM');
    }
    spare.child.kill('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(200);
    const codes = await Promise.all([...victims, spare].map((w) => w.exited));
    expect(codes).toEqual(codes.map(() => 0));
    // Exactly one provider call: nobody had to take the job over.
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(1);
    system.sim.configure({ latencyMs: 0 });
  }, 60_000);
});

describe('router-worker SIGTERM under steady load (e2e)', () => {
  const system = new TestSystem({ topology: 'split', workers: 2 });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('loses no request: the stopping worker finishes its jobs, the other takes the queued ones; one call and one usage row each', async () => {
    system.sim.configure({ latencyMs: 300, chunkDelayMs: 20, completionTokens: 5 });
    system.sim.reset();
    const [victim, stays] = system.workers();
    const answers: Promise<{ status: number; id: string; text: string }>[] = [];
    for (let i = 0; i < 24; i++) {
      const stream = i % 2 === 1;
      answers.push(
        fetch(`${system.gatewayUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: system.headers(),
          body: JSON.stringify({ model: 'sim-gpt', stream, messages: [{ role: 'user', content: `load ${i}` }] }),
        }).then(async (res) => ({
          status: res.status,
          id: res.headers.get('x-request-id') ?? '',
          text: await res.text(),
        })),
      );
      if (i === 8) {
        victim.child.kill('SIGTERM');
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    const done = await Promise.all(answers);
    done.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      if (i % 2 === 1) {
        const events = parseSse(answer.text);
        expect(events[events.length - 1].data).toBe('[DONE]');
        expect(answer.text).not.toContain('"error"');
      } else {
        expect(
          (JSON.parse(answer.text) as { choices: { message: { content: string } }[] }).choices[0].message.content,
        ).toBe(`load ${i}`);
      }
    });
    expect(await victim.exited).toBe(0);
    expect(stays.child.exitCode).toBeNull();
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(24);
    const ids = done.map((answer) => answer.id);
    await waitFor(
      async () =>
        (
          await system.query<{ n: string }>('SELECT count(*) AS n FROM usage_records WHERE request_id = ANY($1)', [ids])
        )[0].n === '24',
      { timeoutMs: 10_000, message: 'not one usage row per request' },
    );
  }, 60_000);
});

/** Single-process instances (ADR 0010) on one Redis: one dying with another instance's job in hand. */
describe('all-in-one failover (e2e)', () => {
  // One job at a time per instance's worker, so two requests at once put one on each.
  const system = new TestSystem({
    topology: 'single',
    workers: 2,
    appEnv: { 'all-in-one': { WORKER_CONCURRENCY: '1' } },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it("a job whose instance is SIGKILLed mid-request is completed by the client's instance", async () => {
    const [client, other] = system.workers();
    system.sim.configure({ latencyMs: 3000 });
    system.sim.reset();
    const ask = (content: string): Promise<{ status: number; text?: string }> =>
      fetch(`http://127.0.0.1:${client.port}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'sim-gpt', messages: [{ role: 'user', content }] }),
      }).then(async (res) => ({
        status: res.status,
        text: ((await res.json()) as { choices?: { message: { content: string } }[] }).choices?.[0].message.content,
      }));
    const answers = Promise.all([ask('first of two'), ask('second of two')]);
    // Both at the provider: each instance's worker holds one of the client instance's jobs.
    await waitFor(() => system.sim.stats().inFlight >= 2, { timeoutMs: 10_000, message: 'both jobs not in flight' });
    system.sim.configure({ latencyMs: 0 });
    other.child.kill('SIGKILL');
    await other.exited;

    // The dead instance's job stalls and the client instance's own worker takes it over once free.
    expect(await answers).toEqual([
      { status: 200, text: 'first of two' },
      { status: 200, text: 'second of two' },
    ]);
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(3);
  }, 60_000);
});
