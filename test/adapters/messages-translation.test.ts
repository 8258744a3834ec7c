import { AdapterRegistry, type AdapterTarget, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import type { JsonObject } from '@aigw/core';
import { messagesRequest } from '../../apps/api-gateway/src/anthropic/messages-request';
import type { MessagesDto } from '../../apps/api-gateway/src/anthropic/messages.dto';
import { FakeUpstream, sendJson } from './support/fake-upstream';

/*
 * A `/v1/messages` request as Anthropic takes it, translated for an OpenAI-format deployment. Anthropic accepts
 * `system: []` (no system prompt) and an empty final assistant turn ("all messages must have non-empty content except
 * for the optional final assistant message"): the model answers as it would without them. OpenAI's chat API requires
 * an assistant message's `content` "unless tool_calls or function_call is specified" and refuses
 * `{"role": "assistant", "content": null}` with a 400; the loopback server below checks that, as OpenAI does.
 */
describe('/v1/messages translated for an OpenAI-format deployment (loopback OpenAI server)', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: ProviderAdapter;
  let target: AdapterTarget;
  const never = new AbortController().signal;
  const frame = { requestId: 'req_1', userId: 'u', apiKeyId: 'k', receivedAt: 0, deadlineAt: Date.now() + 60_000 };

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new AdapterRegistry(pool).get('openai');
    target = { baseUrl: `${up.origin}/v1`, apiKey: 'sk-test-0001', model: 'gpt-4.1', timeoutMs: 2000, poolKey: 'o' };
    up.handler = (_req, res, seen) => {
      const body = JSON.parse(seen.body) as { messages: JsonObject[] };
      const bad = body.messages.findIndex(
        (m) => m.role === 'assistant' && (m.content === null || m.content === undefined) && m.tool_calls === undefined,
      );
      if (bad >= 0) {
        sendJson(res, 400, {
          error: {
            message: "Invalid value for 'content': expected a string, got null.",
            type: 'invalid_request_error',
            param: `messages.[${bad}].content`,
            code: null,
          },
        });
        return;
      }
      sendJson(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4.1',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
      });
    };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  async function send(body: JsonObject): Promise<JsonObject[]> {
    const req = messagesRequest(body as unknown as MessagesDto, frame, body);
    const answer = await adapter.generate({ target, messages: req.messages, options: req.options }, never);
    expect(answer.text).toBe('Hi.');
    return (JSON.parse(up.requests[up.requests.length - 1].body) as { messages: JsonObject[] }).messages;
  }

  it('answers an empty final assistant turn (content "" or []) as Anthropic does: as if it were not there', async () => {
    for (const content of ['', []]) {
      const sent = await send({
        model: 'm',
        max_tokens: 16,
        messages: [
          { role: 'user', content: 'Hello' },
          { role: 'assistant', content },
        ],
      });
      expect(sent).toEqual([{ role: 'user', content: 'Hello' }]);
    }
  });

  it('sends no system message for `system: []`, as for `system: ""`', async () => {
    const sent = await send({ model: 'm', max_tokens: 16, system: [], messages: [{ role: 'user', content: 'Hello' }] });
    expect(sent).toEqual([{ role: 'user', content: 'Hello' }]);
  });
});
