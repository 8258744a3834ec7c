import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL, TestSystem } from './harness';

interface ErrorBody {
  code: string;
  param: string | null;
}

/**
 * The native API's errors name the fields of its body: routing and the workers name OpenAI's (`stop`,
 * `temperature`, `messages`), which a native body does not have. Found by review: a native client was told to fix
 * `stop` or `messages` in a body holding `options.stop` and `prompt`.
 */
describe('native API: errors name the native body fields (e2e)', () => {
  const system = new TestSystem({ workers: 1, env: { RETRY_MAX: '0' } });

  let redis: Redis;

  beforeAll(async () => {
    await system.start();
    redis = new Redis(REDIS_URL);
  }, 90_000);
  afterAll(async () => {
    await redis.quit();
    await system.stop();
  }, 30_000);

  async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${system.gatewayUrl}${path}`, {
      method: 'POST',
      headers: { ...system.headers(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** The error a job ends with: refused at submission, or failed once a worker ran it (read with GET). */
  async function jobError(body: unknown): Promise<{ at: 'submission' | 'job'; error: ErrorBody }> {
    const submitted = await post('/api/v1/ai/jobs', body);
    if (submitted.status !== 202) {
      return { at: 'submission', error: submitted.body.error as ErrorBody };
    }
    const jobId = submitted.body.jobId as string;
    const error = await waitFor(async () => {
      const res = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
      const view = (await res.json()) as { status: string; error?: ErrorBody };
      expect(view.status).not.toBe('completed');
      return view.status === 'failed' ? (view.error ?? null) : null;
    });
    return { at: 'job', error };
  }

  /**
   * The error `GET /api/v1/ai/jobs/:id` reads of a sync request's job once it is gone from BullMQ: from the outcome
   * the worker kept (an Idempotency-Key keeps it past the answer).
   */
  async function keptError(body: unknown): Promise<{ answered: ErrorBody; kept: ErrorBody }> {
    const outcomes = async (): Promise<string[]> => redis.keys(`${system.prefix}:outcome:idem_*`);
    const before = new Set(await outcomes());
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/generate`, {
      method: 'POST',
      headers: { ...system.headers(), 'content-type': 'application/json', 'idempotency-key': uniqueId('kept') },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    const answered = ((await res.json()) as { error: ErrorBody }).error;
    // Kept before the job completes, perhaps after its reply went out.
    const made = await waitFor(async () => {
      const found = (await outcomes()).filter((k) => !before.has(k));
      return found.length > 0 ? found : null;
    });
    expect(made).toHaveLength(1);
    const jobId = made[0].slice(`${system.prefix}:outcome:`.length);
    // Read once BullMQ removed the job (as it completes): from the kept outcome alone.
    await waitFor(async () => (await redis.exists(`{${system.prefix}}:generation:${jobId}`)) === 0, {
      message: 'job not removed',
    });
    const read = await fetch(`${system.gatewayUrl}/api/v1/ai/jobs/${jobId}`, { headers: system.headers() });
    expect(read.status).toBe(200);
    const view = (await read.json()) as { status: string; error?: ErrorBody };
    expect(view.status).toBe('failed');
    return { answered, kept: view.error as ErrorBody };
  }

  const long = 'word '.repeat(9_000);
  it.each([
    [
      'a stop sequence of whitespace only (Anthropic)',
      { prompt: 'hi', model: 'sim-claude', options: { stop: [' '] } },
      'options.stop',
      'unsupported_parameter',
      'submission',
    ],
    [
      'a temperature above 1 (Anthropic)',
      { prompt: 'hi', model: 'sim-claude', options: { temperature: 1.5 } },
      'options.temperature',
      'unsupported_parameter',
      'submission',
    ],
    [
      'a prompt longer than the context window',
      { prompt: long, model: 'sim-gpt' },
      'prompt',
      'context_length_exceeded',
      'job',
    ],
    [
      'messages longer than the context window',
      { messages: [{ role: 'user', content: long }], model: 'sim-gpt' },
      'messages',
      'context_length_exceeded',
      'job',
    ],
  ] as const)(
    '%s: generate and jobs name the native field',
    async (_label, body, param, code, at) => {
      const sync = await post('/api/v1/ai/generate', body);
      expect(sync.status).toBe(400);
      expect(sync.body.error).toMatchObject({ code, param });
      const job = await jobError(body);
      expect(job.error).toMatchObject({ code, param });
      // Refused before any job (routing's checks), or by the worker that ran it.
      expect(job.at).toBe(at);
      if (at === 'job') {
        // A sync job's kept outcome reads back as generate answered it. Found by review: it passed `messages` through.
        const { answered, kept } = await keptError(body);
        expect(answered).toMatchObject({ code, param });
        expect(kept).toEqual(answered);
      }
    },
    30_000,
  );
});
