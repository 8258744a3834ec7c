import { AdapterRegistry, type AdapterRequest, type AdapterTarget, HttpPool } from '@aigw/adapters';
import { ErrorClass } from '@aigw/core';
import type { ServerResponse } from 'node:http';
import { collect, failure } from './support/calls';
import { FakeUpstream, sseEvent, startSse, within } from './support/fake-upstream';

const KIB = 1024;
const MIB = 1024 * KIB;
const LIMITS = { maxResponseBytes: 1 * MIB, maxStreamEventBytes: 256 * KIB };
/** How much filler an oversized answer carries: far past either limit, yet a well-formed answer when read whole. */
const FILLER_BYTES = 8 * MIB;

/**
 * Writes `head`, then filler in 64 KiB pieces while the client still reads, then `tail`: a well-formed answer that
 * only a reader without a size limit takes to its end. Stops early once the client has gone.
 */
async function oversized(res: ServerResponse, head: string, tail: string): Promise<void> {
  res.write(head);
  const piece = 'a'.repeat(64 * KIB);
  for (let sent = 0; sent < FILLER_BYTES && !res.destroyed; sent += piece.length) {
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done).off('close', done);
          resolve();
        };
        res.once('drain', done).once('close', done);
      });
    }
  }
  if (!res.destroyed) {
    res.end(tail);
  }
}

describe('provider answers larger than the pool allows', () => {
  let up: FakeUpstream;
  let pool: HttpPool;
  let registry: AdapterRegistry;
  const never = new AbortController().signal;
  const request = (target: AdapterTarget): AdapterRequest => ({
    target,
    messages: [{ role: 'user', content: 'Hi' }],
    options: {},
  });

  beforeEach(async () => {
    up = await FakeUpstream.start();
    pool = new HttpPool(LIMITS);
    registry = new AdapterRegistry(pool);
  });

  afterEach(async () => {
    await pool.destroy();
    await up.close();
  });

  const openaiTarget = (): AdapterTarget => ({
    baseUrl: `${up.origin}/v1`,
    apiKey: 'sk-size-test-0001',
    model: 'gpt-test',
    timeoutMs: 10_000,
    poolKey: 'size',
  });

  it('fails a JSON answer past maxResponseBytes as a provider error, without reading the rest', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      return oversized(
        res,
        '{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"',
        '"}}]}',
      );
    };
    const err = await within(10_000, 'call', failure(registry.get('openai').generate(request(openaiTarget()), never)));
    expect(err.errorClass).toBe(ErrorClass.Provider);
    expect(err.message).toContain('larger than 1 MiB');
    await within(5000, 'upstream sees the close', up.requests[0].closed);
    expect(up.requests[0].abortedEarly()).toBe(true);
  });

  it('fails a JSON answer whose Content-Length is past maxResponseBytes at once, without waiting for its body', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * MIB) });
      res.write('{"id":"c1",'); // and nothing more: only the declared length says how large it is
    };
    const err = await within(
      10_000,
      'call',
      failure(registry.get('openai').generate(request({ ...openaiTarget(), timeoutMs: 60_000 }), never)),
    );
    expect(err.errorClass).toBe(ErrorClass.Provider);
    expect(err.message).toContain('larger than 1 MiB');
  });

  it('fails a stream whose one event grows past maxStreamEventBytes, after passing on what came before', async () => {
    up.handler = (_req, res) => {
      startSse(res);
      res.write(
        sseEvent({ id: 's1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'Hi' } }] }),
      );
      return oversized(res, 'data: {"filler":"', `"}\n\n${sseEvent('[DONE]')}`);
    };
    const deltas: string[] = [];
    const run = async (): Promise<void> => {
      for await (const d of registry.get('openai').stream(request(openaiTarget()), never)) {
        deltas.push(d.text);
      }
    };
    const err = await within(10_000, 'stream', failure(run()));
    expect(deltas).toEqual(['Hi']);
    expect(err.errorClass).toBe(ErrorClass.Provider);
    expect(err.message).toContain('larger than 256 KiB');
    await within(5000, 'upstream sees the close', up.requests[0].closed);
    expect(up.requests[0].abortedEarly()).toBe(true);
  });

  it('fails a newline-delimited JSON stream (Ollama) whose one line grows past maxStreamEventBytes', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      return oversized(
        res,
        '{"model":"llama3.2","message":{"role":"assistant","content":"',
        '"},"done":false}\n{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
      );
    };
    const target: AdapterTarget = { baseUrl: up.origin, model: 'llama3.2', timeoutMs: 10_000, poolKey: 'o' };
    const err = await within(10_000, 'stream', failure(collect(registry.get('ollama').stream(request(target), never))));
    expect(err.errorClass).toBe(ErrorClass.Provider);
    expect(err.message).toContain('larger than 256 KiB');
  });
});
