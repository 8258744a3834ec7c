import { AdapterRegistry, CancelSignal, HttpPool, loadPlugin, PluginLoadError } from '@aigw/adapters';
import { ErrorClass, ProviderCallError } from '@aigw/core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, textOf } from './support/calls';

const EXAMPLE = './examples/plugins/echo-provider.js';

describe('provider plugins', () => {
  let pool: HttpPool;
  let dir: string;
  const never = new AbortController().signal;
  const target = { baseUrl: 'http://127.0.0.1', model: 'echo-1', timeoutMs: 1000, poolKey: 'echo' };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'plugins-'));
    writeFileSync(join(dir, 'half.js'), 'module.exports = { createAdapter: () => ({ generate() {}, stream() {} }) };');
    writeFileSync(join(dir, 'nothing.js'), 'module.exports = { hello: 1 };');
    writeFileSync(join(dir, 'broken.js'), 'throw new Error("boom at load");');
    // Answers once its signal aborts, with whether it was a real AbortSignal and the abort's reason.
    writeFileSync(
      join(dir, 'waits.js'),
      `module.exports = { createAdapter: () => ({
        kind: 'plugin',
        generate(req, signal) {
          const real = signal instanceof AbortSignal;
          return new Promise((resolve) => {
            const done = () => resolve({ text: real + ':' + signal.reason, finishReason: 'stop', usage: {} });
            if (signal.aborted) done(); else signal.addEventListener('abort', done, { once: true });
          });
        },
        stream() {}, listModels() {}, healthCheck() {},
        classifyError(err, signal) { return { real: signal instanceof AbortSignal, aborted: signal.aborted }; },
      }) };`,
    );
  });
  beforeEach(() => {
    pool = new HttpPool();
  });
  afterEach(() => pool.destroy());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the shipped example from the catalog entry and answers through it, plain and streamed', async () => {
    const registry = new AdapterRegistry(pool);
    expect(
      registry.loadPlugins([
        { id: 'echo', kind: 'plugin', plugin: EXAMPLE },
        { id: 'o', kind: 'openai' },
      ]),
    ).toBe(1);
    const adapter = registry.get('plugin', { id: 'echo', plugin: EXAMPLE });
    const messages = [{ role: 'user' as const, content: 'hello plugin world' }];
    const res = await adapter.generate({ target, messages, options: {} }, never);
    expect(res).toMatchObject({ text: 'echo: hello plugin world', finishReason: 'stop' });
    expect(res.usage.completionTokens).toBeGreaterThan(0);
    const deltas = await collect(adapter.stream({ target, messages, options: {} }, never));
    expect(textOf(deltas)).toBe('echo: hello plugin world');
    expect(deltas[deltas.length - 1].finishReason).toBe('stop');
    expect(await adapter.listModels(target, never)).toEqual(['echo-1', 'echo-embed']);
    // One instance per module, shared by every provider naming it.
    expect(registry.get('plugin', { id: 'echo2', plugin: EXAMPLE })).toBe(adapter);
  });

  it("hands a plugin a real AbortSignal that follows the worker's CancelSignal, aborted before or during the call", async () => {
    const adapter = loadPlugin(join(dir, 'waits.js'), 'provider p', { pool });
    const request = { target, messages: [{ role: 'user' as const, content: 'x' }], options: {} };
    const running = new CancelSignal();
    const answer = adapter.generate(request, running);
    running.abort('client gone');
    expect((await answer).text).toBe('true:client gone');
    const cancelledFirst = new CancelSignal();
    cancelledFirst.abort('deadline');
    expect((await adapter.generate(request, cancelledFirst)).text).toBe('true:deadline');
    expect(adapter.classifyError(new Error('x'), cancelledFirst)).toEqual({ real: true, aborted: true });
    expect(adapter.kind).toBe('plugin');
  });

  it('embeds through a plugin implementing embed(); one declaring embeddings without it does not load', async () => {
    const registry = new AdapterRegistry(pool);
    const embedding = [{ name: 'echo-embed', capabilities: ['embeddings'] }];
    expect(registry.loadPlugins([{ id: 'echo', kind: 'plugin', plugin: EXAMPLE, models: embedding }])).toBe(1);
    const adapter = registry.get('plugin', { id: 'echo', plugin: EXAMPLE });
    const res = await adapter.embed!({ target, input: ['one text', 'another text'], dimensions: 4 }, never);
    expect(res.embeddings).toHaveLength(2);
    for (const v of res.embeddings) {
      expect(v).toHaveLength(4);
      expect(Math.hypot(...v)).toBeCloseTo(1, 9);
    }
    expect(res.embeddings[0]).not.toEqual(res.embeddings[1]);
    expect(res.usage).toEqual({ promptTokens: 2 + 3, completionTokens: 0, totalTokens: 5, cachedPromptTokens: 0 });
    // A module without embed() loads for chat models, and is refused for a provider declaring embeddings.
    const chatOnly = join(dir, 'chat-only.js');
    writeFileSync(
      chatOnly,
      'module.exports = { createAdapter: () => ({ generate() {}, stream() {}, listModels() {}, healthCheck() {}, classifyError(e) { return e; } }) };',
    );
    expect(
      registry.loadPlugins([
        { id: 'chat', kind: 'plugin', plugin: chatOnly, models: [{ name: 'c', capabilities: ['chat'] }] },
      ]),
    ).toBe(1);
    expect(() => registry.loadPlugins([{ id: 'acme', kind: 'plugin', plugin: chatOnly, models: embedding }])).toThrow(
      /provider 'acme': plugin module '.*chat-only.js' does not implement embed\(\), which the model 'echo-embed' needs/,
    );
  });

  it('fails at boot naming the provider when the module is missing, broken or not an adapter', () => {
    const registry = new AdapterRegistry(pool);
    const boot =
      (plugin: string): (() => number) =>
      () =>
        registry.loadPlugins([{ id: 'acme', kind: 'plugin', plugin }]);
    expect(boot('./no/such/plugin.js')).toThrow(PluginLoadError);
    expect(boot('./no/such/plugin.js')).toThrow(
      /provider 'acme': plugin module '.\/no\/such\/plugin.js' cannot be found/,
    );
    expect(boot(join(dir, 'broken.js'))).toThrow(/provider 'acme': .* failed to load: boom at load/);
    expect(boot(join(dir, 'nothing.js'))).toThrow(/provider 'acme': .* exports no createAdapter\(context\) function/);
    expect(boot(join(dir, 'half.js'))).toThrow(
      /does not implement the ProviderAdapter interface: missing listModels\(\), healthCheck\(\), classifyError\(\)/,
    );
    expect(() => registry.loadPlugins([{ id: 'acme', kind: 'plugin' }])).toThrow(/provider 'acme': kind plugin needs/);
  });

  it('turns a plugin that cannot load at call time into a Gateway-class call error', () => {
    const registry = new AdapterRegistry(pool);
    let err: unknown;
    try {
      registry.get('plugin', { id: 'late', plugin: './missing.js' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderCallError);
    expect((err as ProviderCallError).errorClass).toBe(ErrorClass.Gateway);
    expect(() => loadPlugin(EXAMPLE, 'provider x', { pool })).not.toThrow();
  });
});
