import type { RecordedRequest } from '@aigw/testing';
import type { TestSystem } from './harness';

export type Body = Record<string, unknown>;

/** Model rows' prices and capabilities, for catalogs that only vary the names. */
export const MODEL_ROW =
  'promptPer1k: 0.003, completionPer1k: 0.015, contextWindow: 8192, capabilities: [chat, streaming]';

/**
 * Starts and stops `system` around the enclosing describe block, and calls it as OpenAI's and Anthropic's clients do
 * (`maxTokens`: the Messages API's required `max_tokens`). `sentSince` gives the bodies the simulator was sent since
 * `before` (its recorded requests then), model listings left out.
 */
export function claudeCalls(
  system: TestSystem,
  maxTokens: number,
): {
  chat: (body: Body, headers?: Record<string, string>) => Promise<Response>;
  messages: (body: Body) => Promise<Response>;
  sentSince: (before: RecordedRequest[]) => Body[];
} {
  beforeAll(async () => {
    await system.start();
  }, 120_000);
  afterAll(async () => {
    await system.stop();
  }, 60_000);
  return {
    chat: (body, headers = {}) =>
      fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...system.headers(), ...headers },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], ...body }),
      }),
    messages: (body) =>
      fetch(`${system.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ max_tokens: maxTokens, messages: [{ role: 'user', content: 'Hi' }], ...body }),
      }),
    sentSince: (before) =>
      system.sim
        .lastRequests(200)
        .slice(before.length)
        .filter((r) => r.route !== 'GET /v1/models')
        .map((r) => r.body as Body),
  };
}
