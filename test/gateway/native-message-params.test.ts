import { ErrorCode } from '@aigw/core';
import { uniqueId, waitFor } from '@aigw/testing';
import { GatewayHarness, lastUserText, type ErrorEnvelope } from './support';

/**
 * A provider's 400 names the message it refused by its index in the request the gateway sent it
 * (`messages[2].content`), whose messages are the native body's `systemPrompt`, then its `prompt` or its own
 * `messages`. Found by review: the native API passed that param through, naming a field its client never sent
 * (`messages[1].content` for a body with `prompt`) or the message after the one at fault.
 */
describe('native API: a provider error naming a message names the native body field', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);
  beforeEach(() => h.handle((job) => h.answer(job, lastUserText(job.data.request))));

  /** The worker fails every job as a provider refusing `param` would (the param passed through as it came). */
  function refuse(param: string): void {
    h.handle((job) =>
      h.fail(job, {
        message: 'upstream error: Invalid content.',
        type: 'invalid_request_error',
        code: ErrorCode.InvalidRequest,
        param,
      }),
    );
  }

  async function jobParam(body: unknown): Promise<string | null> {
    const submitted = await h.post('/api/v1/ai/jobs', body);
    expect(submitted.status).toBe(202);
    const { jobId } = (await submitted.json()) as { jobId: string };
    return waitFor(async () => {
      const view = (await (await h.get(`/api/v1/ai/jobs/${jobId}`)).json()) as {
        status: string;
        error?: { param: string | null };
      };
      return view.status === 'failed' ? (view.error?.param ?? null) : null;
    });
  }

  /**
   * The error `GET /api/v1/ai/jobs/:id` reads of a failed sync job once BullMQ removed it: from the outcome its worker
   * kept (an Idempotency-Key keeps it past the answer, until the request's deadline).
   */
  async function keptParam(body: unknown): Promise<{ answered: string | null; kept: string | null }> {
    const headers = h.headers(h.adminKey, { 'idempotency-key': `kept-${uniqueId()}` });
    const sync = await h.post('/api/v1/ai/generate', body, headers);
    expect(sync.status).toBe(400);
    const answered = ((await sync.json()) as ErrorEnvelope).error.param;
    const jobId = h.jobsSeen[h.jobsSeen.length - 1];
    expect(jobId).toMatch(/^idem_/);
    await waitFor(async () => (await h.queue.getJob(jobId)) === undefined, { message: 'job not removed' });
    const res = await h.get(`/api/v1/ai/jobs/${jobId}`);
    expect(res.status).toBe(200);
    const view = (await res.json()) as { status: string; error?: { param: string | null } };
    expect(view.status).toBe('failed');
    return { answered, kept: view.error?.param ?? null };
  }

  const turns = [
    { role: 'user', content: 'a' },
    { role: 'assistant', content: 'b' },
    { role: 'user', content: 'c' },
  ];
  it.each([
    ['a prompt', { prompt: 'hi' }, 'messages[0].content', 'prompt'],
    ['a prompt after a systemPrompt', { prompt: 'hi', systemPrompt: 's' }, 'messages[1].content', 'prompt'],
    ['the systemPrompt', { prompt: 'hi', systemPrompt: 's' }, 'messages[0].content', 'systemPrompt'],
    [
      'a message after a systemPrompt',
      { messages: turns, systemPrompt: 's' },
      'messages[3].content',
      'messages[2].content',
    ],
    ['a message, no systemPrompt', { messages: turns }, 'messages[2].content', 'messages[2].content'],
    // An empty systemPrompt is left out of the request: the indices are the body's.
    ['a message, an empty systemPrompt', { messages: turns, systemPrompt: '' }, 'messages[1]', 'messages[1]'],
    // OpenAI's spelling of the body's other fields, as routing and the workers name them.
    ['the stop sequences', { prompt: 'hi', options: { stop: ['x'] } }, 'stop', 'options.stop'],
    ['the whole input, a prompt', { prompt: 'hi', systemPrompt: 's' }, 'messages', 'prompt'],
  ])('%s: generate and a job say the field of the body', async (_label, body, param, expected) => {
    refuse(param);
    const sync = await h.post('/api/v1/ai/generate', body);
    expect(sync.status).toBe(400);
    expect(((await sync.json()) as ErrorEnvelope).error.param).toBe(expected);
    expect(await jobParam(body)).toBe(expected);
    // A sync job's kept outcome reads back as generate answered it. Found by review: it passed the param through.
    expect(await keptParam(body)).toEqual({ answered: expected, kept: expected });
  });
});
