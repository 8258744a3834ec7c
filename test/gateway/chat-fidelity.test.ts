import type { GenerationRequest } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { chat, GatewayHarness, sseEvents, type ErrorEnvelope } from './support';

const tool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};
const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };

/**
 * Chat-completion fields in both directions through the real gateway, against a stand-in worker: bad tool
 * input is a 400 naming the field with nothing enqueued; tool calls and reasoning reach the client, streamed
 * in order.
 */
describe('POST /v1/chat/completions: tools, formats and provider fields', () => {
  const h = new GatewayHarness();

  beforeAll(() => h.start(), 60_000);
  afterAll(() => h.stop(), 30_000);

  async function rejected(body: Record<string, unknown>): Promise<ErrorEnvelope['error']> {
    // The previous test's job may still be completing (its answer goes out before its completion, and a completed
    // sync job is removed): counted while it is active, it would be gone from the count after.
    await waitFor(async () => (await h.queue.getActiveCount()) === 0, { message: 'a previous job is still active' });
    const before = h.jobsSeen.length;
    const jobsBefore = await h.queue.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed');
    const res = await h.post('/v1/chat/completions', body);
    expect(res.status).toBe(400);
    const envelope = (await res.json()) as ErrorEnvelope;
    expect(Object.keys(envelope.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    // Nothing was enqueued: the queue holds exactly the jobs it held before, and the stand-in worker got none.
    expect(await h.queue.getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed')).toBe(jobsBefore);
    expect(h.jobsSeen.length).toBe(before);
    return envelope.error;
  }

  it.each([
    [{ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
    [
      { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: 3 } } } }] },
      'tools[0].function.parameters',
    ],
    [
      { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'string' } } }] },
      'tools[0].function.parameters',
    ],
    [{ tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
    [{ tools: [tool, tool] }, 'tools[1].function.name'],
    [{ tools: [tool], tool_choice: 'sometimes' }, 'tool_choice'],
    [{ tools: [tool], tool_choice: { type: 'function', function: { name: 'other' } } }, 'tool_choice'],
    [{ tool_choice: 'required' }, 'tool_choice'],
    [{ response_format: { type: 'json_schema', json_schema: { schema: { type: 'object' } } } }, 'response_format'],
    [{ response_format: { type: 'xml' } }, 'response_format'],
    [{ logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ top_logprobs: 3 }, 'top_logprobs'],
    [{ presence_penalty: 3 }, 'presence_penalty'],
    [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
    [{ metadata: { a: 1 } }, 'metadata'],
    // Legacy function calling: an answer's function_call would be lost on the way back, so it is refused.
    [{ functions: [{ name: 'f', parameters: { type: 'object' } }] }, 'functions'],
    [{ functions: [{ name: 'f' }], function_call: { name: 'f' } }, 'functions'],
    [{ function_call: 'auto' }, 'function_call'],
    // OpenAI's 400: stream options on a request that does not stream.
    [{ stream_options: { include_usage: true } }, 'stream_options'],
    [{ stream: false, stream_options: { include_usage: false } }, 'stream_options'],
  ])('rejects %j naming %s, enqueueing nothing', async (extra, param) => {
    const error = await rejected(chat('hi', extra));
    expect(error).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param });
  });

  it('rejects a tool message whose tool_call_id matches no earlier assistant tool call', async () => {
    const error = await rejected({
      model: 'sim-gpt',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_2', content: '12C' },
      ],
    });
    expect(error.param).toBe('messages[2].tool_call_id');
    expect(error.message).toContain('call_2');
    const missing = await rejected({ model: 'sim-gpt', messages: [{ role: 'tool', content: '12C' }] });
    expect(missing.param).toBe('messages[0].tool_call_id');
    const badCall = await rejected({
      model: 'sim-gpt',
      messages: [{ role: 'assistant', content: null, tool_calls: [{ ...call, function: { name: 'f' } }] }],
    });
    expect(badCall.param).toBe('messages[0].tool_calls[0].function.arguments');
  });

  it("checks the native API's messages as chat's: a tool result answering no call is a 400 naming it, nothing queued", async () => {
    // Before, the native body's messages skipped the conversation's rules: the job was admitted and queued, for the
    // provider to refuse (or an adapter to drop a user message's tool_calls) after a rate-limit charge.
    const native = async (body: Record<string, unknown>): Promise<ErrorEnvelope['error']> => {
      await waitFor(async () => (await h.queue.getActiveCount()) === 0, { message: 'a previous job is still active' });
      const before = h.jobsSeen.length;
      const res = await h.post('/api/v1/ai/generate', { model: 'sim-claude', ...body });
      const envelope = (await res.json()) as ErrorEnvelope;
      expect([res.status, envelope.error?.code]).toEqual([400, 'invalid_request']);
      expect(h.jobsSeen.length).toBe(before);
      return envelope.error;
    };
    const orphan = await native({
      systemPrompt: 'Be brief.',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_2', content: '12C' },
      ],
    });
    // Named as the body has it: `systemPrompt` is not among its messages.
    expect(orphan.param).toBe('messages[2].tool_call_id');
    const userCalls = await native({ messages: [{ role: 'user', content: 'x', tool_calls: [call] }] });
    expect(userCalls.param).toBe('messages[0].tool_calls');
  });

  it('names the capability no deployment has (sim-gpt here is chat and streaming only)', async () => {
    const error = await rejected(chat('hi', { tools: [tool] }));
    expect(error).toMatchObject({ code: 'unsupported_capability', param: 'tools' });
    const json = await rejected(chat('hi', { response_format: { type: 'json_object' } }));
    expect(json).toMatchObject({ code: 'unsupported_capability', param: 'response_format' });
    const logitOnClaude = await rejected({
      model: 'sim-claude',
      messages: [{ role: 'user', content: 'x' }],
      logit_bias: { '1': 2 },
    });
    expect(logitOnClaude).toMatchObject({ code: 'unsupported_parameter', param: 'logit_bias' });
  });

  it("takes OpenAI's metadata for Claude too (stored-completion tags, no part of the answer) and a null stream_options", async () => {
    let seen: GenerationRequest | undefined;
    h.handle((job) => {
      seen = job.data.request;
      return h.answer(job, 'ok');
    });
    const res = await h.post('/v1/chat/completions', {
      model: 'sim-claude',
      messages: [{ role: 'user', content: 'x' }],
      metadata: { team: 'search' },
      stream_options: null,
    });
    expect(res.status).toBe(200);
    // The worker gets it (the OpenAI family is sent it); the Anthropic adapter leaves it out.
    expect(seen?.options.metadata).toEqual({ team: 'search' });
  });

  it('relays streamed tool-call fragments and reasoning in order, then the finish reason and usage', async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const request: GenerationRequest = job.data.request;
      const result = h.result(request, '', {
        finishReason: 'tool_calls',
        toolCalls: [call as never],
        reasoning: 'hmm',
        usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 0, reasoningTokens: 1 },
      });
      await h.publish(job, h.startMessage(job, { id: 'c1' }));
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: '', reasoning: 'hmm' });
      await h.publish(job, {
        t: 'chunk',
        jobId,
        seq: 1,
        text: '',
        toolCalls: [{ index: 0, id: 'call_1', name: 'get_weather', arguments: '' }],
      });
      await h.publish(job, { t: 'chunk', jobId, seq: 2, text: '', toolCalls: [{ index: 0, arguments: '{"city":' }] });
      await h.publish(job, { t: 'chunk', jobId, seq: 3, text: '', toolCalls: [{ index: 0, arguments: '"Oslo"}' }] });
      await h.publish(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
    const res = await h.post(
      '/v1/chat/completions',
      chat('hi', { stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.status).toBe(200);
    const { payloads } = await sseEvents(res);
    const deltas = (
      payloads.slice(0, -1) as { choices: { delta: unknown; finish_reason: string | null }[]; usage?: unknown }[]
    )
      .filter((p) => p.choices.length > 0)
      .map((p) => p.choices[0].delta);
    expect(deltas).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'hmm' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] },
      {},
    ]);
    expect(payloads.at(-2)).toMatchObject({
      choices: [],
      usage: { completion_tokens: 2, completion_tokens_details: { reasoning_tokens: 1 } },
    });
    expect(payloads.at(-1)).toBe('[DONE]');
  });

  it("stamps every chunk with the provider's created time and system_fingerprint from the stream's start", async () => {
    h.handle(async (job) => {
      const jobId = job.id ?? '';
      const request: GenerationRequest = job.data.request;
      const result = h.result(request, 'Hi', { created: 1_700_000_123, systemFingerprint: 'fp_up_1' });
      await h.publish(job, {
        t: 'start',
        jobId,
        provider: 'sim',
        model: 'sim-gpt',
        route: 'direct',
        attempts: 1,
        id: 'chatcmpl-c2',
        created: 1_700_000_123,
        systemFingerprint: 'fp_up_1',
      });
      await h.publish(job, { t: 'chunk', jobId, seq: 0, text: 'Hi', finishReason: 'stop' });
      await h.publish(job, { t: 'end', jobId, result });
      return { ok: true, result };
    });
    const res = await h.post(
      '/v1/chat/completions',
      chat('hi', { stream: true, stream_options: { include_usage: true } }),
    );
    expect(res.status).toBe(200);
    const { payloads } = await sseEvents(res);
    const chunks = payloads.slice(0, -1) as { id: string; created: number; system_fingerprint?: string }[];
    expect(chunks.length).toBe(4); // role, content, finish, usage
    for (const c of chunks) {
      expect(c).toMatchObject({ id: 'chatcmpl-c2', created: 1_700_000_123, system_fingerprint: 'fp_up_1' });
    }
  });

  it('answers tool calls in the JSON body', async () => {
    let seen: GenerationRequest | undefined;
    h.handle(async (job) => {
      seen = job.data.request;
      const result = h.result(job.data.request, '', { finishReason: 'tool_calls', toolCalls: [call as never] });
      await h.publish(job, { t: 'result', jobId: job.id ?? '', result });
      return { ok: true, result };
    });
    const res = await h.post('/v1/chat/completions', chat('weather?', { seed: 3, service_tier: 'flex' }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: unknown; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({
      message: { role: 'assistant', content: null, refusal: null, tool_calls: [call] },
      finish_reason: 'tool_calls',
    });
    expect(seen?.options).toEqual({ seed: 3, extra: { service_tier: 'flex' } });
  });

  it("takes an assistant message's refusal parts, as OpenAI's API does, as the message's refusal", async () => {
    let seen: GenerationRequest | undefined;
    h.handle((job) => {
      seen = job.data.request;
      return h.answer(job, 'ok');
    });
    const res = await h.post('/v1/chat/completions', {
      model: 'sim-gpt',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help with that.' }] },
        { role: 'user', content: 'second' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Part of it:' },
            { type: 'refusal', refusal: 'not the rest.' },
          ],
        },
        { role: 'user', content: 'third' },
      ],
    });
    expect(res.status).toBe(200);
    expect(seen?.messages[1]).toEqual({ role: 'assistant', content: null, refusal: 'I cannot help with that.' });
    expect(seen?.messages[3]).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'Part of it:' }],
      refusal: 'not the rest.',
    });
    // Only an assistant message holds one.
    const error = await rejected({
      model: 'sim-gpt',
      messages: [{ role: 'user', content: [{ type: 'refusal', refusal: 'no' }] }],
    });
    expect(error).toMatchObject({ code: 'invalid_request', param: 'messages[0].content' });
  });

  it("names what is wrong with OpenAI's allowed_tools tool choice", async () => {
    const allowed = (mode: string, names: string[]): Record<string, unknown> => ({
      type: 'allowed_tools',
      allowed_tools: { mode, tools: names.map((name) => ({ type: 'function', function: { name } })) },
    });
    const bad = await rejected(chat('x', { tools: [tool], tool_choice: allowed('auto', ['get_weather', 'other']) }));
    expect(bad).toMatchObject({ code: 'invalid_request', param: 'tool_choice.allowed_tools.tools[1]' });
    const malformed = await rejected(chat('x', { tools: [tool], tool_choice: allowed('sometimes', ['get_weather']) }));
    expect(malformed).toMatchObject({ code: 'invalid_request', param: 'tool_choice' });
    const noTools = await rejected(chat('x', { tool_choice: allowed('auto', ['get_weather']) }));
    expect(noTools).toMatchObject({ code: 'invalid_request', param: 'tool_choice' });
  });

  it('needs the tools capability for a conversation that already holds tool calls', async () => {
    const error = await rejected({
      model: 'sim-gpt',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_1', content: '12C' },
      ],
    });
    expect(error).toMatchObject({ code: 'unsupported_capability', param: 'tools' });
  });
});
