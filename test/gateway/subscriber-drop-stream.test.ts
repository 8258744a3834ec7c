import type { GenerationRequest, ToolCall } from '@aigw/core';
import { waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { chat, GatewayHarness, REDIS_URL, sseEvents } from './support';

const call: ToolCall = {
  id: 'call_1',
  type: 'function',
  function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
};

/**
 * Redis drops the gateway's reply subscriber (its unread replies passed `client-output-buffer-limit pubsub`: many
 * replies behind a stalled gateway; here CLIENT KILL, the same close) while a stream relays a tool call. What was
 * published meanwhile is gone: here the call's last fragment. The `end` that comes after the reconnect holds the whole
 * call, but the relay had no gap to see (no chunk followed the lost one): before, it ended the stream with the call's
 * arguments cut short (`{"city":`), no error. Now a subscriber that closed marks every stream as having maybe lost
 * replies: the stream's end is checked against what it relayed, and the rest of the arguments go out.
 */
describe('a stream relaying a tool call when the reply subscriber is dropped', () => {
  const h = new GatewayHarness();
  let admin: Redis;

  beforeAll(async () => {
    await h.start();
    admin = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    await admin?.quit();
    await h.stop();
  }, 30_000);

  /** The gateway's reply subscriber connection, by its name: its client id, or undefined while it is away. */
  async function subscriberId(): Promise<string | undefined> {
    const line = String(await admin.client('LIST'))
      .split('\n')
      .find((l) => l.includes(` name=${h.prefix}:replies `));
    return /\bid=(\d+)/.exec(line ?? '')?.[1];
  }

  /** The tool call's arguments as each format streams them, and the error events. */
  const formats = {
    openai: {
      path: '/v1/chat/completions',
      body: chat('weather', { stream: true }),
      args: (p: unknown): string =>
        (
          (p as { choices?: { delta: { tool_calls?: { function?: { arguments?: string } }[] } }[] }).choices?.[0]?.delta
            .tool_calls ?? []
        )
          .map((t) => t.function?.arguments ?? '')
          .join(''),
    },
    anthropic: {
      path: '/v1/messages',
      body: { model: 'sim-gpt', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'weather' }] },
      args: (p: unknown): string => {
        const d = (p as { delta?: { type?: string; partial_json?: string } }).delta;
        return d?.type === 'input_json_delta' ? (d.partial_json ?? '') : '';
      },
    },
  };

  it.each(Object.keys(formats) as (keyof typeof formats)[])(
    'sends the whole call, not one cut short at the lost fragment (%s format)',
    async (format) => {
      h.handle(async (job) => {
        const jobId = job.id ?? '';
        const channel = job.data.replyTo ?? '';
        const request: GenerationRequest = job.data.request;
        const result = h.result(request, '', { finishReason: 'tool_calls', toolCalls: [call] });
        await h.publish(job, h.startMessage(job));
        const fragment = (seq: number, f: Record<string, string>): string =>
          JSON.stringify({ t: 'chunk', jobId, seq, text: '', toolCalls: [{ index: 0, ...f }] });
        await admin.publish(channel, fragment(0, { id: 'call_1', name: 'get_weather', arguments: '' }));
        await admin.publish(channel, fragment(1, { arguments: '{"city":' }));
        const before = await subscriberId();
        await admin.client('KILL', 'ID', before ?? '');
        // Published while the subscriber is away: nobody receives it.
        expect(await admin.publish(channel, fragment(2, { arguments: '"Oslo"}' }))).toBe(0);
        await waitFor(async () => Number((await admin.pubsub('NUMSUB', channel))[1]) === 1, {
          timeoutMs: 10_000,
          message: 'the reply subscriber did not come back',
        });
        await h.publish(job, { t: 'end', jobId, result });
        return { ok: true, result };
      });
      const { path, body, args } = formats[format];
      const res = await h.post(path, body);
      expect(res.status).toBe(200);
      const { events, payloads } = await sseEvents(res);
      expect({
        args: payloads.map(args).join(''),
        errors: events.filter((e) => e.event === 'error' || e.data.includes('"error"')).map((e) => e.data),
      }).toEqual({ args: '{"city":"Oslo"}', errors: [] });
    },
    30_000,
  );
});
