import { waitFor } from '@aigw/testing';
import { TestSystem } from './harness';

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

  beforeAll(() => system.start(), 90_000);
  afterAll(() => system.stop(), 30_000);

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

  const long = 'word '.repeat(9_000);
  it.each([
    [
      'a stop sequence of whitespace only (Anthropic)',
      { prompt: 'hi', model: 'sim-claude', options: { stop: [' '] } },
      'options.stop',
      'unsupported_parameter',
    ],
    [
      'a temperature above 1 (Anthropic)',
      { prompt: 'hi', model: 'sim-claude', options: { temperature: 1.5 } },
      'options.temperature',
      'unsupported_parameter',
    ],
    [
      'a prompt longer than the context window',
      { prompt: long, model: 'sim-gpt' },
      'prompt',
      'context_length_exceeded',
    ],
    [
      'messages longer than the context window',
      { messages: [{ role: 'user', content: long }], model: 'sim-gpt' },
      'messages',
      'context_length_exceeded',
    ],
  ] as const)(
    '%s: generate and jobs name the native field',
    async (_label, body, param, code) => {
      const sync = await post('/api/v1/ai/generate', body);
      expect(sync.status).toBe(400);
      expect(sync.body.error).toMatchObject({ code, param });
      const job = await jobError(body);
      expect(job.error).toMatchObject({ code, param });
    },
    30_000,
  );
});
