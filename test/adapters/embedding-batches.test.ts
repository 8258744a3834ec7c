import { AdapterRegistry, type AdapterTarget, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import { countTextTokens, ErrorClass, ProviderCallError } from '@aigw/core';
import { FakeUpstream, sendJson } from './support/fake-upstream';

/** TEI's default `--max-client-batch-size`. */
const TEI_LIMIT = 32;

/**
 * A Text Embeddings Inference server's `POST /v1/embeddings` (OpenAI's wire format): more inputs than its
 * `--max-client-batch-size` is a 422 `{"error": "batch size N > maximum allowed batch size M", "error_type":
 * "Validation"}`; an answer's vectors say which input they are (here `[offset + i, i]` so that their order shows).
 */
function teiHandler(up: FakeUpstream, fail?: { call: number; status: number; body: unknown }) {
  let calls = 0;
  up.handler = (_req, res, seen) => {
    calls++;
    const body = JSON.parse(seen.body) as { input: string[] };
    if (fail !== undefined && calls === fail.call) {
      sendJson(res, fail.status, fail.body);
      return;
    }
    if (body.input.length > TEI_LIMIT) {
      sendJson(res, 422, {
        error: `batch size ${body.input.length} > maximum allowed batch size ${TEI_LIMIT}`,
        error_type: 'Validation',
      });
      return;
    }
    // Answered out of order, as `index` allows: the adapter must place each vector by it.
    const data = body.input
      .map((text, i) => ({ object: 'embedding', index: i, embedding: [Number(text.slice(1)), i] }))
      .reverse();
    sendJson(res, 200, {
      object: 'list',
      data,
      model: 'bge',
      usage: { prompt_tokens: body.input.length * 2, total_tokens: body.input.length * 2 },
    });
  };
}

const texts = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);

// Every test gets a fresh loopback upstream and connection pool.
let up: FakeUpstream;
let pool: HttpPool;
const never = new AbortController().signal;

beforeEach(async () => {
  up = await FakeUpstream.start();
  pool = new HttpPool();
});

afterEach(async () => {
  await pool.destroy();
  await up.close();
});

describe("embeddings split into requests of at most the deployment's maxEmbeddingInputs (a TEI server)", () => {
  let adapter: ProviderAdapter;
  let target: AdapterTarget;

  beforeEach(() => {
    adapter = new AdapterRegistry(pool).get('openai');
    target = { baseUrl: `${up.origin}/v1`, model: 'bge', timeoutMs: 2000, poolKey: 'tei', maxEmbeddingInputs: 32 };
  });

  it('sends 100 inputs as 32 + 32 + 32 + 4, the vectors in input order and the usage summed', async () => {
    teiHandler(up);
    const res = await adapter.embed!({ target, input: texts(100) }, never);
    expect(up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input.length)).toEqual([32, 32, 32, 4]);
    expect(up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input[0])).toEqual([
      't0',
      't32',
      't64',
      't96',
    ]);
    expect(res.embeddings).toHaveLength(100);
    res.embeddings.forEach((v, i) => expect(v).toEqual([i, i % 32]));
    expect(res.usage).toEqual({ promptTokens: 200, completionTokens: 0, totalTokens: 200, cachedPromptTokens: 0 });
  });

  it('sends a list within the limit as one request, as before', async () => {
    teiHandler(up);
    const res = await adapter.embed!({ target, input: texts(32) }, never);
    expect(up.requests).toHaveLength(1);
    expect(res.embeddings[31]).toEqual([31, 31]);
  });

  it("learns a TEI server's limit from its refusal when none is set, and splits by it from then on", async () => {
    teiHandler(up);
    const unset: AdapterTarget = { ...target, maxEmbeddingInputs: undefined };
    const res = await adapter.embed!({ target: unset, input: texts(100) }, never);
    const sizes = () => up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input.length);
    // The one refused request (TEI validates before embedding anything: nothing was charged), then the split.
    expect(sizes()).toEqual([100, 32, 32, 32, 4]);
    res.embeddings.forEach((v, i) => expect(v).toEqual([i, i % 32]));
    expect(res.usage.promptTokens).toBe(200);

    up.requests.length = 0;
    await adapter.embed!({ target: unset, input: texts(40) }, never);
    expect(sizes()).toEqual([32, 8]);
  });

  it('keeps a limit learnt for one model to that model: another one behind the same gateway route is not split', async () => {
    // A LiteLLM in front of a TEI (bge, 32) and of a server taking the whole list (e5): one pool and base URL.
    teiHandler(up);
    const teiAnswer = up.handler;
    up.handler = (req, res, seen) => {
      const { model, input } = JSON.parse(seen.body) as { model: string; input: string[] };
      if (model === 'bge') {
        return teiAnswer(req, res, seen);
      }
      sendJson(res, 200, {
        data: input.map((t, i) => ({ index: i, embedding: [Number(t.slice(1)), i] })),
        usage: { prompt_tokens: input.length, total_tokens: input.length },
      });
    };
    const gateway: AdapterTarget = {
      baseUrl: `${up.origin}/v1`,
      model: 'bge',
      timeoutMs: 2000,
      poolKey: 'gateway:lite',
    };
    await adapter.embed!({ target: gateway, input: texts(40) }, never);
    const sizes = () => up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input.length);
    expect(sizes()).toEqual([40, 32, 8]);

    up.requests.length = 0;
    await adapter.embed!({ target: { ...gateway, model: 'e5' }, input: texts(40) }, never);
    expect(sizes()).toEqual([40]);
  });

  it('lets a limit set after one was learnt take effect (the server raised), as the docs say', async () => {
    let limit = TEI_LIMIT;
    up.handler = (_req, res, seen) => {
      const { input } = JSON.parse(seen.body) as { input: string[] };
      if (input.length > limit) {
        sendJson(res, 422, { error: `batch size ${input.length} > maximum allowed batch size ${limit}` });
        return;
      }
      sendJson(res, 200, {
        data: input.map((t, i) => ({ index: i, embedding: [Number(t.slice(1)), i] })),
        usage: { prompt_tokens: input.length, total_tokens: input.length },
      });
    };
    const unset: AdapterTarget = { ...target, maxEmbeddingInputs: undefined };
    await adapter.embed!({ target: unset, input: texts(100) }, never);
    const sizes = () => up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input.length);
    expect(sizes()).toEqual([100, 32, 32, 32, 4]);

    // The operator raised the server's --max-client-batch-size to 64 and set maxEmbeddingInputs: 64.
    limit = 64;
    up.requests.length = 0;
    await adapter.embed!({ target: { ...target, maxEmbeddingInputs: 64 }, input: texts(100) }, never);
    expect(sizes()).toEqual([64, 36]);
  });

  it('fails the whole call when a later request fails, billed for the requests that succeeded', async () => {
    teiHandler(up, { call: 3, status: 503, body: { error: 'overloaded', error_type: 'Overloaded' } });
    const err = (await adapter.embed!({ target, input: texts(100) }, never).catch((e: unknown) => e)) as
      ProviderCallError | undefined;
    expect(err).toBeInstanceOf(ProviderCallError);
    expect(err?.status).toBe(503);
    expect(err?.billed).toEqual({ promptTokens: 128, completionTokens: 0, totalTokens: 128, cachedPromptTokens: 0 });
    // No request after the failing one.
    expect(up.requests).toHaveLength(3);
  });

  it("names the client's input item in a refusal's param (offset by the requests before it), unbilled when first", async () => {
    const refusal = { error: { message: 'input is too long', type: 'invalid_request_error', param: 'input[5]' } };
    teiHandler(up, { call: 2, status: 400, body: refusal });
    const later = (await adapter.embed!({ target, input: texts(100) }, never).catch(
      (e: unknown) => e,
    )) as ProviderCallError;
    expect(later.errorClass).toBe(ErrorClass.InvalidRequest);
    expect(later.param).toBe('input[37]');

    up.requests.length = 0;
    teiHandler(up, { call: 1, status: 400, body: refusal });
    const first = (await adapter.embed!({ target, input: texts(100) }, never).catch(
      (e: unknown) => e,
    )) as ProviderCallError;
    expect(first.param).toBe('input[5]');
    expect(first.billed).toBeUndefined();
  });
});

describe("the native families honour a provider's maxEmbeddingInputs too", () => {
  const sizes = (field: 'input' | 'requests') =>
    up.requests.map((r) => (JSON.parse(r.body) as Record<string, unknown[]>)[field].length);

  it('Ollama: /api/embed calls of at most that many, in order', async () => {
    up.handler = (_req, res, seen) => {
      const { input } = JSON.parse(seen.body) as { input: string[] };
      sendJson(res, 200, {
        embeddings: input.map((t) => [Number(t.slice(1)), 0]),
        prompt_eval_count: input.length,
      });
    };
    const adapter = new AdapterRegistry(pool).get('ollama');
    const target = { baseUrl: up.origin, model: 'nomic', timeoutMs: 2000, poolKey: 'o', maxEmbeddingInputs: 2 };
    const res = await adapter.embed!({ target, input: texts(5) }, never);
    expect(sizes('input')).toEqual([2, 2, 1]);
    expect(res.embeddings.map((v) => v[0])).toEqual([0, 1, 2, 3, 4]);
    expect(res.usage.promptTokens).toBe(5);
  });

  it('Gemini: batchEmbedContents calls of fewer than its 100 when set so, never more', async () => {
    up.handler = (_req, res, seen) => {
      const { requests } = JSON.parse(seen.body) as { requests: { content: { parts: { text: string }[] } }[] };
      sendJson(res, 200, { embeddings: requests.map((r) => ({ values: [Number(r.content.parts[0].text.slice(1))] })) });
    };
    const adapter = new AdapterRegistry(pool).get('gemini');
    const target = { baseUrl: up.origin, model: 'gemini-embedding-001', timeoutMs: 2000, poolKey: 'g' };
    const res = await adapter.embed!({ target: { ...target, maxEmbeddingInputs: 3 }, input: texts(7) }, never);
    expect(sizes('requests')).toEqual([3, 3, 1]);
    expect(res.embeddings.map((v) => v[0])).toEqual([0, 1, 2, 3, 4, 5, 6]);

    up.requests.length = 0;
    await adapter.embed!({ target: { ...target, maxEmbeddingInputs: 500 }, input: texts(150) }, never);
    expect(sizes('requests')).toEqual([100, 50]);
  });
});

describe('a cost the provider reported (OpenRouter) over consecutive requests', () => {
  it("adds up the requests' reported costs, and reports none when a request reported none", async () => {
    let costs: (number | undefined)[] = [];
    up.handler = (_req, res, seen) => {
      const { input } = JSON.parse(seen.body) as { input: string[] };
      const cost = costs.shift();
      sendJson(res, 200, {
        data: input.map((t, i) => ({ index: i, embedding: [Number(t.slice(1)), i] })),
        usage: { prompt_tokens: input.length, total_tokens: input.length, ...(cost === undefined ? {} : { cost }) },
      });
    };
    const adapter = new AdapterRegistry(pool).get('openai');
    const target = { baseUrl: `${up.origin}/v1`, model: 'e5', timeoutMs: 2000, poolKey: 'or', maxEmbeddingInputs: 2 };
    costs = [0.001, 0.002, 0.0005];
    const res = await adapter.embed!({ target, input: texts(5) }, never);
    expect(res.usage.reportedCostUsd).toBeCloseTo(0.0035, 12);

    // A request that said nothing: the sum would bill less than was charged; the catalog's price is billed instead.
    costs = [0.001, undefined, 0.0005];
    const partial = await adapter.embed!({ target, input: texts(5) }, never);
    expect(partial.usage.reportedCostUsd).toBeUndefined();
  });
});

describe('consecutive requests of which only some report usage', () => {
  /** A server that reports usage for the requests `reports` says so of (in order), and leaves it out of the others. */
  function reportingSometimes(reports: boolean[]): void {
    up.handler = (_req, res, seen) => {
      const { input } = JSON.parse(seen.body) as { input: (string | number[])[] };
      const reported = reports.shift() === true;
      sendJson(res, 200, {
        data: input.map((_t, i) => ({ index: i, embedding: [i] })),
        ...(reported ? { usage: { prompt_tokens: 100, total_tokens: 100 } } : {}),
      });
    };
  }
  const target = (): AdapterTarget => ({
    baseUrl: `${up.origin}/v1`,
    model: 'e5',
    timeoutMs: 2000,
    poolKey: 'some',
    maxEmbeddingInputs: 2,
  });
  const words = ['alpha beta gamma', 'delta epsilon', 'zeta eta theta iota', 'kappa', 'lambda mu'];

  it("counts the inputs of a request without usage with the gateway's tokenizer, so all inputs are billed", async () => {
    reportingSometimes([true, false, true]);
    const adapter = new AdapterRegistry(pool).get('openai');
    const res = await adapter.embed!({ target: target(), input: words }, never);
    // The second request (inputs 2 and 3) said nothing: its inputs are counted as routing counts them.
    const unreported = countTextTokens(words[2]) + countTextTokens(words[3]);
    expect(unreported).toBeGreaterThan(0);
    expect(res.usage).toEqual({
      promptTokens: 200 + unreported,
      completionTokens: 0,
      totalTokens: 200 + unreported,
      cachedPromptTokens: 0,
    });
  });

  it('counts a token array by its length', async () => {
    reportingSometimes([false, true]);
    const adapter = new AdapterRegistry(pool).get('openai');
    const res = await adapter.embed!({ target: target(), input: [[1, 2, 3], [4, 5], [6]] }, never);
    expect(res.usage.promptTokens).toBe(5 + 100);
  });

  it('bills a failure after such requests for every input embedded before it', async () => {
    const reports = [true, false];
    up.handler = (_req, res, seen) => {
      if (reports.length === 0) {
        sendJson(res, 503, { error: 'overloaded' });
        return;
      }
      const { input } = JSON.parse(seen.body) as { input: string[] };
      const reported = reports.shift() === true;
      sendJson(res, 200, {
        data: input.map((_t, i) => ({ index: i, embedding: [i] })),
        ...(reported ? { usage: { prompt_tokens: 100, total_tokens: 100 } } : {}),
      });
    };
    const adapter = new AdapterRegistry(pool).get('openai');
    const err = (await adapter.embed!({ target: target(), input: words }, never).catch(
      (e: unknown) => e,
    )) as ProviderCallError;
    expect(err.billed?.promptTokens).toBe(100 + countTextTokens(words[2]) + countTextTokens(words[3]));
  });
});

describe('a learnt limit and the catalog', () => {
  it('is forgotten when its provider leaves the catalog: one re-created with the same id and URL starts afresh', async () => {
    let limit = TEI_LIMIT;
    up.handler = (_req, res, seen) => {
      const { input } = JSON.parse(seen.body) as { input: string[] };
      if (input.length > limit) {
        sendJson(res, 422, { error: `batch size ${input.length} > maximum allowed batch size ${limit}` });
        return;
      }
      sendJson(res, 200, {
        data: input.map((t, i) => ({ index: i, embedding: [Number(t.slice(1)), i] })),
        usage: { prompt_tokens: input.length, total_tokens: input.length },
      });
    };
    const registry = new AdapterRegistry(pool);
    const adapter = registry.get('openai');
    const target: AdapterTarget = { baseUrl: `${up.origin}/v1`, model: 'bge', timeoutMs: 2000, poolKey: 'tei' };
    const sizes = () => up.requests.map((r) => (JSON.parse(r.body) as { input: string[] }).input.length);
    await adapter.embed!({ target, input: texts(40) }, never);
    expect(sizes()).toEqual([40, 32, 8]);

    // A reload that still has it keeps what was learnt.
    registry.retainLearnt([target]);
    up.requests.length = 0;
    await adapter.embed!({ target, input: texts(40) }, never);
    expect(sizes()).toEqual([32, 8]);

    // Deleted (a reload without it), then re-created with the same id and URL in front of a server taking 64.
    registry.retainLearnt([]);
    registry.retainLearnt([target]);
    limit = 64;
    up.requests.length = 0;
    await adapter.embed!({ target, input: texts(40) }, never);
    expect(sizes()).toEqual([40]);
  });
});
