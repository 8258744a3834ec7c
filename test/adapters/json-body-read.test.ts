import { AdapterRegistry, type AdapterRequest, type AdapterTarget, CancelSignal, HttpPool } from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import { failure } from './support/calls';
import { FakeUpstream, sleep, within } from './support/fake-upstream';

/** How a non-streamed answer's body is read to its end (calls.ts readBody): every way it can end. */
describe('a non-streamed answer body', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let registry: AdapterRegistry;
  const answer = JSON.stringify({
    id: 'c1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'héllo wörld ✓' } }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  });
  const target = (): AdapterTarget => ({
    baseUrl: `${up.origin}/v1`,
    apiKey: 'sk-body-read-0001',
    model: 'gpt-test',
    timeoutMs: 10_000,
    poolKey: 'body-read',
  });
  const request = (): AdapterRequest => ({
    target: target(),
    messages: [{ role: 'user', content: 'Hi' }],
    options: {},
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool({ maxResponseBytes: 64 * 1024, maxStreamEventBytes: 16 * 1024 });
    registry = new AdapterRegistry(pool);
  });
  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('is read whole when it comes in many pieces, a multi-byte character split between two', async () => {
    const bytes = Buffer.from(answer);
    const split = bytes.indexOf(Buffer.from('ö')) + 1; // inside the two bytes of ö
    up.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(bytes.subarray(0, 10));
      await sleep(5);
      res.write(bytes.subarray(10, split));
      await sleep(5);
      res.end(bytes.subarray(split));
    };
    const res = await within(10_000, 'call', registry.get('openai').generate(request(), new CancelSignal()));
    expect(res.text).toBe('héllo wörld ✓');
    expect(res.usage.completionTokens).toBe(4);
  });

  it('fails as a provider error, not an answer, when the connection is cut mid-body', async () => {
    up.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(answer.length + 100) });
      res.write(answer.slice(0, 40));
      await sleep(20);
      res.socket?.destroy();
    };
    const err = await within(10_000, 'call', failure(registry.get('openai').generate(request(), new CancelSignal())));
    expect(err.errorClass).not.toBe(ErrorClass.Cancelled);
    expect([ErrorClass.Network, ErrorClass.Provider]).toContain(err.errorClass);
  });

  it("is cancelled when the caller's signal aborts while the body is still coming, and the upstream is left", async () => {
    const signal = new CancelSignal();
    up.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(answer.slice(0, 40));
      await sleep(50);
      signal.abort(new Error('client went away'));
      await sleep(200);
      if (!res.destroyed) {
        res.end(answer.slice(40));
      }
    };
    const err = await within(10_000, 'call', failure(registry.get('openai').generate(request(), signal)));
    expect(err.errorClass).toBe(ErrorClass.Cancelled);
    await within(5000, 'upstream sees the close', up.requests[0].closed);
    expect(up.requests[0].abortedEarly()).toBe(true);
  });

  it('fails past the size limit without a Content-Length, and the next call on the pool still answers', async () => {
    let calls = 0;
    up.handler = async (_req, res) => {
      calls++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (calls === 1) {
        const piece = 'a'.repeat(16 * 1024);
        for (let i = 0; i < 16 && !res.destroyed; i++) {
          res.write(piece);
          await sleep(1);
        }
        if (!res.destroyed) {
          res.end();
        }
        return;
      }
      res.end(answer);
    };
    const err = await within(10_000, 'call', failure(registry.get('openai').generate(request(), new CancelSignal())));
    expect(err.errorClass).toBe(ErrorClass.Provider);
    expect(err.message).toContain('larger than 64 KiB');
    const res = await within(10_000, 'second call', registry.get('openai').generate(request(), new CancelSignal()));
    expect(res.text).toBe('héllo wörld ✓');
  });
});
