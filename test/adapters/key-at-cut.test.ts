import { AdapterRegistry, type AdapterRequest, type AdapterTarget, HttpPool } from '@aigw/adapters';
import { type ProviderKind } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure } from './support/calls';
import { FakeUpstream, sendJson, sseEvent, startSse } from './support/fake-upstream';

/** A key of no known format (a proxy's virtual key): only the key itself can find it in a message. */
const KEY = 'hf_Zq7Wx2Vb9Nm4Lk8Pj3Hg6Fd1Sa5';
/** How much of a provider's message an error carries (MAX_MESSAGE_CHARS, the last one being the `…`). */
const KEPT = 299;

/**
 * An echo of the key that a cut at the kept length would split after its first `head` characters: a message that
 * was cut before the key was looked for still held those characters, and no whole key to find.
 */
function echoAcrossCut(head: number): string {
  return `${'x'.repeat(KEPT - head - 1)} ${KEY} was revoked`;
}

/** For each family: a 200 body holding an in-band error, and a stream that fails midway with one. */
interface Family {
  kind: ProviderKind;
  path: string;
  body(message: string): unknown;
  midStream(res: ServerResponse, message: string): void;
}

function sse(res: ServerResponse, events: string[]): void {
  startSse(res);
  res.end(events.join(''));
}

const FAMILIES: Family[] = [
  {
    kind: 'openai',
    path: '',
    body: (message) => ({ error: { message, type: 'invalid_request_error' } }),
    midStream: (res, message) =>
      sse(res, [
        sseEvent({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'a' } }] }),
        sseEvent({ error: { message, type: 'invalid_request_error' } }),
      ]),
  },
  {
    kind: 'anthropic',
    path: '',
    body: (message) => ({ type: 'error', error: { type: 'authentication_error', message } }),
    midStream: (res, message) =>
      sse(res, [
        sseEvent({ type: 'message_start', message: { id: 'm1', content: [], usage: {} } }, 'message_start'),
        sseEvent({ type: 'error', error: { type: 'api_error', message } }, 'error'),
      ]),
  },
  {
    kind: 'gemini',
    path: '/v1beta',
    body: (message) => ({ error: { code: 400, status: 'INVALID_ARGUMENT', message } }),
    midStream: (res, message) =>
      sse(res, [
        sseEvent({ candidates: [{ content: { role: 'model', parts: [{ text: 'a' }] } }] }),
        sseEvent({ error: { code: 500, status: 'INTERNAL', message } }),
      ]),
  },
  {
    kind: 'ollama',
    path: '',
    body: (message) => ({ error: message }),
    midStream: (res, message) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(
        `${JSON.stringify({ model: 'm', message: { role: 'assistant', content: 'a' }, done: false })}\n` +
          `${JSON.stringify({ error: message })}\n`,
      );
    },
  },
  {
    kind: 'tgi',
    path: '',
    body: (message) => ({ error: message, error_type: 'validation' }),
    midStream: (res, message) =>
      sse(res, [
        sseEvent({ token: { id: 1, text: 'a', special: false }, generated_text: null, details: null }),
        sseEvent({ error: message, error_type: 'generation' }),
      ]),
  },
];

describe.each(FAMILIES)('$kind: a provider message echoing the key across the cut', (family) => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let target: AdapterTarget;
  const never = new AbortController().signal;

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    target = { baseUrl: `${up.origin}${family.path}`, apiKey: KEY, model: 'm', timeoutMs: 2000, poolKey: family.kind };
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  const request = (): AdapterRequest => ({ target, messages: [{ role: 'user', content: 'Hi' }], options: {} });

  async function failures(message: string): Promise<string[]> {
    const adapter = new AdapterRegistry(pool).get(family.kind);
    up.handler = (_req, res) => sendJson(res, 200, family.body(message));
    const inBody = await failure(adapter.generate(request(), never));
    // A stream request answered with a JSON error body instead of a stream.
    const asJson = await failure(collect(adapter.stream(request(), never)));
    up.handler = (_req, res) => family.midStream(res, message);
    const midStream = await failure(collect(adapter.stream(request(), never)));
    up.handler = (_req, res) => sendJson(res, 401, family.body(message));
    const rejected = await failure(adapter.generate(request(), never));
    return [inBody, asJson, midStream, rejected].map((e) => e.message);
  }

  it.each([1, 4, 7, 12])('leaves none of a key whose first %i characters fall before the cut', async (head) => {
    for (const message of await failures(echoAcrossCut(head))) {
      expect(message).toMatch(/…$/);
      expect(message).not.toContain(` ${KEY.slice(0, head)}`);
      // The marker took the key's place (itself cut when it reaches past the kept length).
      expect(message.slice(message.lastIndexOf('x') + 1)).toMatch(/^ \[/);
    }
  });

  it('keeps what the provider said around a key that fits', async () => {
    for (const message of await failures(`key ${KEY} was revoked`)) {
      expect(message).toContain('key [redacted] was revoked');
    }
  });
});
