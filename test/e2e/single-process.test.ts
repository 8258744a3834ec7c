import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, parseSse, waitFor } from '@aigw/testing';
import { REDIS_URL, ROOT, TestSystem, watchReplyChannels, type AppProcess } from './harness';

/**
 * The single-process deployment (ADR 0010): one all-in-one process hosts the api-gateway, a router-worker and the
 * health-monitor. Jobs still go through the BullMQ queue; a reply to the process's own gateway is handed over in
 * memory, one to another instance is published on its reply channel.
 */

interface ChatAnswer {
  choices: { message: { content: string } }[];
}

function chatBody(content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content }], ...extra });
}

async function chat(
  system: TestSystem,
  base: string,
  content: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; jobId: string; text: string }> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...system.headers(), ...headers },
    body: chatBody(content),
  });
  const text = res.ok ? ((await res.json()) as ChatAnswer).choices[0].message.content : await res.text();
  return { status: res.status, jobId: res.headers.get('x-request-id') ?? '', text };
}

/**
 * Generate jobs a single process's worker has finished, from its /metrics (`aigw_jobs_total`). Sync jobs leave
 * BullMQ as they complete, so the job's `processedBy` cannot say which process took it.
 */
async function generateJobsDone(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('aigw_jobs_total{') && line.includes('queue="generation"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('single-process deployment (e2e)', () => {
  const system = new TestSystem({ topology: 'single' });
  let watch: Awaited<ReturnType<typeof watchReplyChannels>>;

  beforeAll(async () => {
    await system.start();
    watch = await watchReplyChannels(system.prefix);
  }, 90_000);

  afterAll(async () => {
    await watch?.close();
    await system.stop();
  }, 30_000);

  it('serves sync and streamed chat completions, the replies handed over in memory, none published', async () => {
    const before = await generateJobsDone(system.gatewayUrl);
    const sync = await chat(system, system.gatewayUrl, 'hello single');
    expect(sync.status).toBe(200);
    expect(sync.text).toBe('hello single');

    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: chatBody('streamed through one process', { stream: true }),
    });
    expect(res.status).toBe(200);
    const events = parseSse(await res.text());
    expect(events[events.length - 1].data).toBe('[DONE]');
    const text = events
      .slice(0, -1)
      .map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content)
      .join('');
    expect(text).toBe('streamed through one process');

    // The in-process worker took both jobs and nothing reached a reply channel in Redis.
    await waitFor(async () => (await generateJobsDone(system.gatewayUrl)) === before + 2, {
      timeoutMs: 5000,
      message: 'the in-process worker did not finish both jobs',
    });
    expect(watch.published).toEqual([]);
  });

  it('still answers from the stored outcome: an Idempotency-Key replay waits on the job it did not enqueue', async () => {
    system.sim.configure({ latencyMs: 400 });
    try {
      const headers = { 'idempotency-key': 'single-replay' };
      const first = chat(system, system.gatewayUrl, 'stored answer', headers);
      await new Promise((r) => setTimeout(r, 100));
      const replay = await chat(system, system.gatewayUrl, 'stored answer', headers);
      expect(replay).toMatchObject({ status: 200, text: 'stored answer' });
      expect(await first).toMatchObject({ status: 200, text: 'stored answer' });
    } finally {
      system.sim.configure({ latencyMs: 0 });
    }
    expect(watch.published).toEqual([]);
  });

  it('/metrics serves the gateway and the hosted apps in one exposition, the process metrics once', async () => {
    const res = await fetch(`${system.gatewayUrl}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    // The gateway's, the worker's and the monitor's own series.
    expect(body).toMatch(/^aigw_http_requests_total\{/m);
    expect(body).toMatch(/^aigw_jobs_total\{queue="generation",name="generate",outcome="success"\} [1-9]/m);
    expect(body).toMatch(/^# TYPE aigw_provider_health gauge$/m);
    const types = body.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
    expect(types.filter((l) => l.startsWith('# TYPE aigw_process_start_time_seconds '))).toHaveLength(1);
    expect(body.match(/^aigw_process_resident_memory_bytes /gm)).toHaveLength(1);
  });

  it('/health/ready includes the hosted router-worker and health-monitor', async () => {
    const res = await fetch(`${system.gatewayUrl}/health/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { info: Record<string, { status: string }> };
    expect(Object.keys(body.info).sort()).toEqual(['database', 'health-monitor', 'redis', 'router-worker']);
    expect(Object.values(body.info).every((c) => c.status === 'up')).toBe(true);
  });

  // The two cases below start or stop a process: they run last, on this system (a single process with its monitor,
  // as each booted for itself before) rather than on a system booted for one case each.

  // While this system's process runs, a second one is stopped as it starts.
  it('SIGTERM while starting: finishes the start, then closes as for any SIGTERM and exits 0, rather than dying by the signal', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', 'all-in-one', 'src', 'main.js')], {
      cwd: ROOT,
      env: { ...system.baseEnv(), HOST: '127.0.0.1', PORT: String(await freePort()), LOG_LEVEL: 'log' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])),
    );
    // The first app's start has begun: from here its worker may take jobs before the port opens.
    await waitFor(() => output.includes('Starting Nest application'), { timeoutMs: 20_000 });
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(output).toContain('SIGTERM: shutting down');
  }, 40_000);

  // Stops this system's process: the last case here.
  it('SIGTERM mid-request: the in-flight sync and streamed requests complete, then the process exits 0', async () => {
    system.sim.configure({ latencyMs: 1_500 });
    const [app] = system.apps;
    const sync = chat(system, system.gatewayUrl, 'finish me');
    const streamed = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: chatBody('finish my stream', { stream: true }),
    }).then(async (res) => ({ status: res.status, events: parseSse(await res.text()) }));
    await waitFor(() => system.sim.stats().inFlight >= 2, { timeoutMs: 5000, message: 'requests not in flight' });
    app.child.kill('SIGTERM');
    expect(await sync).toMatchObject({ status: 200, text: 'finish me' });
    const stream = await streamed;
    expect(stream.status).toBe(200);
    expect(stream.events[stream.events.length - 1].data).toBe('[DONE]');
    expect(await app.exited).toBe(0);
  }, 30_000);
});

describe('single-process instances sharing one Redis (e2e)', () => {
  // One job at a time per worker, and provider calls long enough to overlap.
  const system = new TestSystem({ topology: 'single', appEnv: { 'all-in-one': { WORKER_CONCURRENCY: '1' } } });
  let a: AppProcess;
  let b: AppProcess;
  let watch: Awaited<ReturnType<typeof watchReplyChannels>>;

  beforeAll(async () => {
    await system.start();
    a = system.apps[0];
    b = await system.spawnApp('all-in-one', await freePort());
    watch = await watchReplyChannels(system.prefix);
    system.sim.configure({ latencyMs: 500 });
  }, 90_000);

  afterAll(async () => {
    await watch?.close();
    await system.stop();
  }, 30_000);

  it.each([
    ['A', () => a],
    ['B', () => b],
  ])(
    'two requests at once to %s: its busy worker takes one, the other instance the other, answered via Redis',
    async (_, target) => {
      const app = target();
      const other = app === a ? b : a;
      const base = `http://127.0.0.1:${app.port}`;
      watch.published.length = 0;
      const done = async (): Promise<[number, number]> => [
        await generateJobsDone(base),
        await generateJobsDone(`http://127.0.0.1:${other.port}`),
      ];
      const [mine, theirs] = await done();
      const answers = await Promise.all([
        chat(system, base, 'first of two'),
        new Promise((r) => setTimeout(r, 100)).then(() => chat(system, base, 'second of two')),
      ]);
      expect(answers.map((x) => [x.status, x.text])).toEqual([
        [200, 'first of two'],
        [200, 'second of two'],
      ]);
      // Each instance's worker took one of the two jobs.
      await waitFor(async () => (await done()).join() === [mine + 1, theirs + 1].join(), {
        timeoutMs: 5000,
        message: 'each worker should have taken one job',
      });
      // Only the job the other instance took was answered through Redis, on this instance's channel.
      await waitFor(() => watch.published.length > 0, { timeoutMs: 2000, message: 'no reply was published' });
      const viaRedis = [...new Set(watch.published.map((p) => p.message.jobId))];
      expect(viaRedis).toHaveLength(1);
      expect(answers.map((x) => x.jobId)).toContain(viaRedis[0]);
      expect(new Set(watch.published.map((p) => p.channel)).size).toBe(1);
    },
  );

  it("answers a worker-less api-gateway's jobs, through Redis", async () => {
    const gateway = await system.spawnApp('api-gateway', await freePort());
    watch.published.length = 0;
    const answer = await chat(system, `http://127.0.0.1:${gateway.port}`, 'from a gateway alone');
    expect(answer).toMatchObject({ status: 200, text: 'from a gateway alone' });
    expect(watch.published.map((p) => p.message.jobId)).toContain(answer.jobId);
  });
});

describe('single-process SIGTERM beside other gateways (e2e)', () => {
  // A worker-less api-gateway shares the queue: once the single process's own gateway has no job waiting for a
  // worker, the draining process leaves that gateway's new jobs to the workers that stay, if any other is connected.
  const system = new TestSystem({
    topology: 'single',
    appEnv: { 'all-in-one': { SHUTDOWN_GRACE_MS: '20000', LOG_LEVEL: 'log' } },
  });
  let redis: Redis;
  /** A worker-less api-gateway whose jobs the draining processes' workers may take; one for every case here. */
  let other: string;

  beforeAll(async () => {
    await system.start();
    other = `http://127.0.0.1:${(await system.spawnApp('api-gateway', await freePort())).port}`;
    redis = new Redis(REDIS_URL);
  }, 90_000);

  afterAll(async () => {
    await redis.quit();
    await system.stop();
  }, 30_000);

  /**
   * The worker (BullMQ's `processedBy`: host and pid) running the job asking `content`, read once its request reached
   * the provider. A draining worker whose wake-up fetch took a job as it paused puts it back to the head of the queue
   * before running it, so the job can show that worker's `processedBy` for a moment: only the runner calls the provider.
   */
  async function takenBy(content: string): Promise<string> {
    let by = '';
    await waitFor(
      async () => {
        const atProvider = system.sim
          .lastRequests(200)
          .some((request) => JSON.stringify(request.body).includes(content));
        if (!atProvider) {
          return false;
        }
        for (const id of await redis.lrange(`{${system.prefix}}:generation:active`, 0, -1)) {
          const [data, pb] = await redis.hmget(`{${system.prefix}}:generation:${id}`, 'data', 'pb');
          if (data?.includes(content) && pb !== null) {
            by = pb;
            return true;
          }
        }
        return false;
      },
      { timeoutMs: 5000, message: `no worker took "${content}"` },
    );
    return by;
  }

  /** Stops the system's own process if it still runs (the first case stops it; a case run alone does it here). */
  async function onlyWorkersStartedHere(): Promise<void> {
    const [first] = system.apps;
    if (first.child.exitCode === null) {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  }

  /** Once `app`'s port refuses connections, and a few of its drain polls (50 ms each) later. */
  async function drainingWithPortClosed(app: AppProcess): Promise<void> {
    const refused = (): Promise<boolean> =>
      fetch(`http://127.0.0.1:${app.port}/health/live`).then(
        () => false,
        () => true,
      );
    await waitFor(refused, { timeoutMs: 5000, message: 'the port still accepts' });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }

  it('with another worker connected: stops taking jobs while its own in-flight request finishes, the other takes the new one', async () => {
    const [app] = system.apps;
    system.sim.configure({ latencyMs: 3_000 });
    const own = chat(system, system.gatewayUrl, 'in flight at the SIGTERM');
    // Its own job is taken by its own worker before the other worker exists.
    expect(await takenBy('in flight at the SIGTERM')).toBe(`${hostname()}:${app.child.pid}`);
    const peer = await system.spawnApp('router-worker', await freePort());
    app.child.kill('SIGTERM');
    // Its only request is running: nothing of its gateway waits for a worker, so its worker stops taking jobs now.
    await waitFor(() => app.output.join('').includes('stopping: waiting up to'), {
      timeoutMs: 2_000,
      message: 'the hosted worker still takes jobs while its gateway drains',
    });
    const elsewhere = chat(system, other, 'queued while it drains');
    expect(await takenBy('queued while it drains')).toBe(`${hostname()}:${peer.child.pid}`);
    expect(await own).toMatchObject({ status: 200, text: 'in flight at the SIGTERM' });
    expect(await app.exited).toBe(0);
    expect(await elsewhere).toMatchObject({ status: 200, text: 'queued while it drains' });
    peer.child.kill('SIGTERM');
    await peer.exited;
  }, 40_000);

  it('with no other worker connected: keeps taking jobs until its gateway has closed, so the new one is answered', async () => {
    await onlyWorkersStartedHere();
    const app = await system.spawnApp('all-in-one', await freePort());
    // Long enough to outlast the SIGTERM, the port closing and the pause below on a loaded host (checked below).
    system.sim.configure({ latencyMs: 6_000 });
    const own = chat(system, `http://127.0.0.1:${app.port}`, 'in flight at this SIGTERM');
    await takenBy('in flight at this SIGTERM');
    app.child.kill('SIGTERM');
    // Its gateway has stopped accepting, and its only job is taken: past that, the worker would stop taking jobs if
    // another were connected.
    await drainingWithPortClosed(app);
    expect(system.sim.stats().inFlight).toBe(1); // its gateway has not closed: its request is still at the provider
    const elsewhere = chat(system, other, 'sent while it drains');
    expect(await takenBy('sent while it drains')).toBe(`${hostname()}:${app.child.pid}`);
    expect(await own).toMatchObject({ status: 200, text: 'in flight at this SIGTERM' });
    expect(await elsewhere).toMatchObject({ status: 200, text: 'sent while it drains' });
    expect(await app.exited).toBe(0);
  }, 40_000);

  it('two draining together: each counts the other as leaving, so a new job is still taken and answered', async () => {
    await onlyWorkersStartedHere();
    const drainers = [
      await system.spawnApp('all-in-one', await freePort()),
      await system.spawnApp('all-in-one', await freePort()),
    ];
    system.sim.configure({ latencyMs: 6_000 });
    const own = drainers.map((app, i) => chat(system, `http://127.0.0.1:${app.port}`, `in flight at SIGTERM ${i}`));
    await Promise.all(drainers.map((_, i) => takenBy(`in flight at SIGTERM ${i}`)));
    for (const app of drainers) {
      app.child.kill('SIGTERM');
    }
    await Promise.all(drainers.map(drainingWithPortClosed));
    expect(system.sim.stats().inFlight).toBe(2); // neither gateway has closed: both requests are still at the provider
    const elsewhere = chat(system, other, 'sent while both drain');
    const by = await takenBy('sent while both drain');
    expect(drainers.map((app) => `${hostname()}:${app.child.pid}`)).toContain(by);
    expect(await Promise.all(own)).toMatchObject([{ status: 200 }, { status: 200 }]);
    expect(await elsewhere).toMatchObject({ status: 200, text: 'sent while both drain' });
    expect(await Promise.all(drainers.map((app) => app.exited))).toEqual([0, 0]);
  }, 60_000);

  it('draining beside a draining split router-worker: counts it as leaving, so a new job is still taken and answered', async () => {
    await onlyWorkersStartedHere();
    // One job at a time, and a drain time that outlasts it: once busy, it takes no other job.
    const worker = await system.spawnApp('router-worker', await freePort(), {
      WORKER_CONCURRENCY: '1',
      SHUTDOWN_GRACE_MS: '20000',
      LOG_LEVEL: 'log',
    });
    const app = await system.spawnApp('all-in-one', await freePort());
    const takers = [worker, app].map((p) => `${hostname()}:${p.child.pid}`);
    system.sim.configure({ latencyMs: 6_000 });
    // Requests to the single process until each worker runs one (which takes a job is up to Redis): its gateway then
    // waits for them all, so it stays open past the port closing.
    const own: ReturnType<typeof chat>[] = [];
    const taken = new Set<string>();
    while (taken.size < 2 && own.length < 6) {
      const content = `in flight at both SIGTERMs ${own.length}`;
      own.push(chat(system, `http://127.0.0.1:${app.port}`, content));
      taken.add(await takenBy(content));
    }
    expect([...taken].sort()).toEqual([...takers].sort());
    worker.child.kill('SIGTERM');
    app.child.kill('SIGTERM');
    // The router-worker no longer takes jobs, though its blocking connection stays open until its job is done.
    await waitFor(() => worker.output.join('').includes('stopping: waiting up to'), {
      timeoutMs: 5_000,
      message: 'the router-worker did not start draining',
    });
    await drainingWithPortClosed(app);
    expect(system.sim.stats().inFlight).toBe(own.length); // every job is still at the provider
    const elsewhere = chat(system, other, 'sent while the process and the worker drain');
    expect(await takenBy('sent while the process and the worker drain')).toBe(takers[1]);
    expect((await Promise.all(own)).map((answer) => answer.status)).toEqual(own.map(() => 200));
    expect(await elsewhere).toMatchObject({ status: 200, text: 'sent while the process and the worker drain' });
    expect(await Promise.all([app.exited, worker.exited])).toEqual([0, 0]);
  }, 60_000);
});

describe('single-process SIGTERM with its own job queued (e2e)', () => {
  // One job at a time: the second request's job waits in the queue when the SIGTERM comes, and no other worker runs.
  const system = new TestSystem({ topology: 'single', appEnv: { 'all-in-one': { WORKER_CONCURRENCY: '1' } } });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('keeps taking jobs until its own queued one is taken, then exits 0', async () => {
    const [app] = system.apps;
    system.sim.configure({ latencyMs: 1_500 });
    const redis = new Redis(REDIS_URL);
    try {
      const first = chat(system, system.gatewayUrl, 'running at the SIGTERM');
      await waitFor(() => system.sim.stats().inFlight >= 1, { timeoutMs: 5000, message: 'request not in flight' });
      const second = chat(system, system.gatewayUrl, 'queued at the SIGTERM');
      await waitFor(async () => (await redis.llen(`{${system.prefix}}:generation:wait`)) === 1, {
        timeoutMs: 5000,
        message: 'job not queued',
      });
      app.child.kill('SIGTERM');
      expect(await first).toMatchObject({ status: 200, text: 'running at the SIGTERM' });
      expect(await second).toMatchObject({ status: 200, text: 'queued at the SIGTERM' });
      expect(await app.exited).toBe(0);
    } finally {
      await redis.quit();
    }
  }, 30_000);
});

describe('single-process start that fails after its worker took a job (e2e)', () => {
  // A worker-less api-gateway queues the job; the all-in-one process is given that gateway's port, which it
  // cannot open. Its worker and monitor start before the port is opened, and the worker takes the waiting job.
  const system = new TestSystem({ topology: 'split', workers: 0 });

  beforeAll(async () => {
    await system.start();
    system.sim.configure({ latencyMs: 1_500 });
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  it('lets the job it took finish before it exits 1 (EADDRINUSE), instead of leaving it to stall', async () => {
    const answer = chat(system, system.gatewayUrl, 'queued before the failed start');
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', 'all-in-one', 'src', 'main.js')], {
      cwd: ROOT,
      env: {
        ...system.baseEnv(),
        HOST: '127.0.0.1',
        PORT: system.gatewayUrl.split(':')[2],
        ALL_IN_ONE_MONITOR: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Abandoned by a process that exits at once, the job would wait for a worker that never comes (none runs).
    expect(await answer).toMatchObject({ status: 200, text: 'queued before the failed start' });
    expect(await exited).toBe(1);
    expect(output).toContain('EADDRINUSE');
    expect(system.sim.stats().byRoute['POST /v1/chat/completions']).toBe(1);
  }, 40_000);
});
