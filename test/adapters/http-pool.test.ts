import { type AdapterTarget, HttpPool, OpenAiAdapter } from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { failure } from './support/calls';
import { FakeUpstream, sendJson, sleep, waitFor, within } from './support/fake-upstream';

const OK = {
  id: 'c',
  created: 1,
  choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

describe('HttpPool', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let adapter: OpenAiAdapter;
  const never = new AbortController().signal;
  const target = (over: Partial<AdapterTarget> = {}): AdapterTarget => ({
    baseUrl: `${up.origin}/v1`,
    model: 'm',
    timeoutMs: 5000,
    poolKey: 'p1',
    ...over,
  });
  const call = (t: AdapterTarget) =>
    adapter.generate({ target: t, messages: [{ role: 'user', content: 'x' }], options: {} }, never);

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool();
    adapter = new OpenAiAdapter(pool);
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  it('never opens more connections than maxConnections; extra requests queue', async () => {
    const held: ServerResponse[] = [];
    up.handler = (_req, res) => {
      held.push(res);
    };
    const t = target({ maxConnections: 2 });
    const calls = Array.from({ length: 5 }, () => call(t));
    await within(
      3000,
      'two requests arrive',
      waitFor(() => up.requests.length === 2),
    );
    await sleep(50); // give a wrongly unlimited pool the chance to open more
    expect(up.connections).toBe(2);
    expect(pool.stats()).toEqual([expect.objectContaining({ poolKey: 'p1', connected: 2, running: 2, queued: 3 })]);
    up.handler = (_req, res) => sendJson(res, 200, OK);
    for (const res of held) {
      sendJson(res, 200, OK);
    }
    const results = await within(3000, 'all answered', Promise.all(calls));
    expect(results.map((r) => r.text)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(up.connections).toBe(2);
    expect(up.peakConnections).toBe(2);
  });

  it("tells a call's target when its request is written to the provider, not while it waits for a connection", async () => {
    const held: ServerResponse[] = [];
    up.handler = (_req, res) => {
      held.push(res);
    };
    const sent: string[] = [];
    const one = target({ maxConnections: 1 });
    const first = call({ ...one, sent: () => sent.push('first') });
    const second = call({ ...one, sent: () => sent.push('second') });
    await within(
      3000,
      'the first request arrives',
      waitFor(() => up.requests.length === 1),
    );
    await sleep(50); // give a wrong notice the chance to come for the queued call
    // The second waits for the pool's one connection: nothing of it reached the provider yet.
    const queued = [...sent];
    sendJson(held[0], 200, OK);
    expect(queued).toEqual(['first']);
    await within(
      3000,
      'the second request arrives',
      waitFor(() => up.requests.length === 2),
    );
    expect(sent).toEqual(['first', 'second']);
    sendJson(held[1], 200, OK);
    expect((await within(3000, 'both answered', Promise.all([first, second]))).map((r) => r.text)).toEqual([
      'ok',
      'ok',
    ]);
  });

  it('applies a changed maxConnections to the next calls (an admin edit of the provider), in-flight calls finish', async () => {
    const held: ServerResponse[] = [];
    up.handler = (_req, res) => {
      held.push(res);
    };
    const first = call(target({ maxConnections: 1 }));
    await within(
      3000,
      'the first request arrives',
      waitFor(() => up.requests.length === 1),
    );
    const raised = target({ maxConnections: 3 });
    const more = Array.from({ length: 3 }, () => call(raised));
    await within(
      3000,
      'the raised limit lets three more in at once',
      waitFor(() => up.requests.length === 4),
    );
    for (const res of held.splice(0)) {
      sendJson(res, 200, OK);
    }
    expect((await within(3000, 'all answered', Promise.all([first, ...more]))).map((r) => r.text)).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    // Lowered again: two calls at once reach the provider one after the other.
    const lowered = target({ maxConnections: 1 });
    const two = [call(lowered), call(lowered)];
    await within(
      3000,
      'one request arrives',
      waitFor(() => up.requests.length === 5),
    );
    await sleep(50); // give a pool still allowing three the chance to send the second
    expect(up.requests).toHaveLength(5);
    expect(pool.stats()).toEqual([expect.objectContaining({ poolKey: 'p1', running: 1, queued: 1 })]);
    up.handler = (_req, res) => sendJson(res, 200, OK);
    for (const res of held.splice(0)) {
      sendJson(res, 200, OK);
    }
    expect((await within(3000, 'both answered', Promise.all(two))).map((r) => r.text)).toEqual(['ok', 'ok']);
  });

  it("closes the pool of an origin no target uses any more (a provider's baseUrl changed) once its calls finish", async () => {
    const other = await FakeUpstream.start();
    // Idle sockets would stay for a minute: only the pool's closing explains one closing sooner.
    const lasting = new HttpPool({ keepAliveTimeoutMs: 60_000 });
    const calls = new OpenAiAdapter(lasting);
    const send = (t: AdapterTarget) =>
      calls.generate({ target: t, messages: [{ role: 'user', content: 'x' }], options: {} }, never);
    try {
      const moved = target({ baseUrl: `${other.origin}/v1` });
      other.handler = (_req, res) => sendJson(res, 200, OK);
      expect((await send(moved)).text).toBe('ok');
      const held: ServerResponse[] = [];
      up.handler = (_req, res) => {
        held.push(res);
      };
      const inFlight = send(target());
      await within(
        3000,
        'the call reaches the old origin',
        waitFor(() => held.length === 1),
      );
      const socketClosed = new Promise<void>((resolve) => held[0].socket?.once('close', () => resolve()));

      // The catalog now sends p1 to the other origin only.
      expect(lasting.retainOnly([moved])).toBe(1);
      await sleep(50);
      expect(up.openSockets).toBe(1); // the call in flight keeps it
      sendJson(held[0], 200, OK);
      expect((await within(3000, 'the call in flight is answered', inFlight)).text).toBe('ok');
      await within(2000, "the old origin's socket closes", socketClosed);
      expect(up.openSockets).toBe(0);
      expect(other.openSockets).toBe(1);
      expect(lasting.stats()).toEqual([expect.objectContaining({ poolKey: 'p1', origin: other.origin })]);

      // A call that still held the old target is sent all the same, over a pool the next reload closes.
      up.handler = (_req, res) => sendJson(res, 200, OK);
      expect((await send(target())).text).toBe('ok');
      expect(lasting.retainOnly([moved])).toBe(1);
      await within(
        2000,
        "the old origin's new socket closes",
        waitFor(() => up.openSockets === 0),
      );
      expect(lasting.retainOnly([moved])).toBe(0);
    } finally {
      await lasting.destroy();
      await other.close();
    }
  });

  it("times a call from when it is sent: waiting for one of the provider's maxConnections is no provider timeout", async () => {
    // Each answer takes 400 ms; with one connection the third call waits 800 ms for it, over the 600 ms timeout.
    up.handler = (_req, res) => {
      setTimeout(() => sendJson(res, 200, OK), 400);
    };
    const t = target({ maxConnections: 1, timeoutMs: 600 });
    const results = await within(5000, 'all answered', Promise.all([call(t), call(t), call(t)]));
    expect(results.map((r) => r.text)).toEqual(['ok', 'ok', 'ok']);
    expect(up.requests).toHaveLength(3);
    expect(up.peakConnections).toBe(1);
  });

  it('still times out a call the provider is slow to answer once it was sent', async () => {
    up.handler = () => undefined; // never answers
    const e = await within(3000, 'the timeout', failure(call(target({ timeoutMs: 200 }))));
    expect(e.errorClass).toBe(ErrorClass.Timeout);
  });

  it('keeps one pool per poolKey and origin', async () => {
    up.handler = (_req, res) => sendJson(res, 200, OK);
    await call(target({ poolKey: 'a' }));
    await call(target({ poolKey: 'b' }));
    await call(target({ poolKey: 'a', baseUrl: `${up.origin}/other/v1` }));
    expect(
      pool
        .stats()
        .map((s) => s.poolKey)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(up.requests.map((r) => r.url)).toEqual([
      '/v1/chat/completions',
      '/v1/chat/completions',
      '/other/v1/chat/completions',
    ]);
    expect(up.connections).toBe(2);
  });

  it('refuses a key HTTP cannot carry without handing it to the pool, which then keeps serving', async () => {
    up.handler = (_req, res) => sendJson(res, 200, OK);
    const one = target({ maxConnections: 1 });
    expect((await within(3000, 'first call', call(one))).text).toBe('ok');
    for (const apiKey of ['sk-abc\ndef', 'sk-\u201cabc\u201d']) {
      const e = await within(3000, 'refused', failure(call({ ...one, apiKey })));
      expect(e.errorClass).toBe(ErrorClass.Gateway);
      expect(e.message).toContain('authorization header');
      expect(e.message).not.toContain('abc');
      // undici refused such a request itself, after which a pool of one connection never answered again.
      expect((await within(3000, 'next call', call(one))).text).toBe('ok');
    }
    expect(up.requests).toHaveLength(3);
  });

  it('closes gracefully: in-flight calls finish, later calls are refused as Cancelled', async () => {
    let release: (() => void) | undefined;
    up.handler = (_req, res) => {
      release = () => sendJson(res, 200, OK);
    };
    const inFlight = call(target());
    await within(
      3000,
      'request arrives',
      waitFor(() => release !== undefined),
    );
    const closing = pool.close();
    const refused = await failure(call(target()));
    expect(refused.errorClass).toBe(ErrorClass.Cancelled);
    release?.();
    expect((await within(3000, 'in-flight call', inFlight)).text).toBe('ok');
    await within(3000, 'close', closing);
    await within(
      3000,
      'socket closed',
      waitFor(() => up.openSockets === 0),
    );
  });

  it('reports a refused connection as Network', async () => {
    const origin = up.origin;
    await up.close();
    const e = await failure(call({ baseUrl: `${origin}/v1`, model: 'm', timeoutMs: 2000, poolKey: 'gone' }));
    expect(e.errorClass).toBe(ErrorClass.Network);
    expect(e.message).toContain('ECONNREFUSED');
    up = await FakeUpstream.start(); // afterEach closes it
  });

  it('rejects a malformed baseUrl without echoing it', async () => {
    const e = await failure(call(target({ baseUrl: 'not a url with secret-token' })));
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.message).not.toContain('secret-token');
    expect(e.cause).toBeUndefined();
  });
});
