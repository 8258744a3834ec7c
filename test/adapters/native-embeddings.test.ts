import { AdapterRegistry, type AdapterTarget, HttpPool, type ProviderAdapter } from '@aigw/adapters';
import { countTextTokens, ErrorClass } from '@aigw/core';
import { failure } from './support/calls';
import { FakeUpstream, sendJson } from './support/fake-upstream';

/*
 * Embeddings through the native Gemini and Ollama APIs, in their documented wire formats:
 * Gemini `POST models/{model}:batchEmbedContents` (ai.google.dev/api/embeddings: `requests[]` of EmbedContentRequest
 * with `model`, `content.parts[]` and `outputDimensionality`, at most 100 per call; answers `embeddings[].values`,
 * no usage) and Ollama `POST /api/embed` (`input` a string or list, `truncate`, `dimensions`, `options`; answers
 * `embeddings` and `prompt_eval_count`).
 */

interface GeminiBatch {
  requests: { model: string; content: { parts: { text: string }[] }; outputDimensionality?: number }[];
}

/** `v` of unit length, in float32. */
function unit(v: number[]): number[] {
  const norm = Math.hypot(...v);
  return v.map((x) => Math.fround(x / norm));
}

/** A vector that tells which text it embeds: [length of the text, first char code]. */
function vectorOf(text: string): number[] {
  return [text.length, text.charCodeAt(0)];
}

describe('native embeddings against a real HTTP server', () => {
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

  describe('Gemini batchEmbedContents', () => {
    let adapter: ProviderAdapter;
    let target: AdapterTarget;

    beforeEach(() => {
      adapter = new AdapterRegistry(pool).get('gemini');
      target = {
        baseUrl: `${up.origin}/v1beta`,
        apiKey: 'AIzaSy-embed-secret',
        model: 'gemini-embedding-001',
        timeoutMs: 2000,
        poolKey: 'g',
      };
      up.handler = (_req, res, seen) => {
        const body = JSON.parse(seen.body) as GeminiBatch;
        sendJson(res, 200, { embeddings: body.requests.map((r) => ({ values: vectorOf(r.content.parts[0].text) })) });
      };
    });

    it('sends one request per text with outputDimensionality, reads the vectors and estimates usage', async () => {
      const input = ['first', 'second one', 'third and last'];
      const res = await adapter.embed!({ target, input, dimensions: 8 }, never);
      // Scaled to unit length (see the next test).
      expect(res.embeddings).toEqual(input.map((t) => unit(vectorOf(t))));
      const tokens = input.reduce((s, t) => s + countTextTokens(t), 0);
      expect(res.usage).toEqual({
        promptTokens: tokens,
        completionTokens: 0,
        totalTokens: tokens,
        cachedPromptTokens: 0,
      });
      expect(up.requests).toHaveLength(1);
      const seen = up.requests[0];
      expect(`${seen.method} ${seen.url}`).toBe('POST /v1beta/models/gemini-embedding-001:batchEmbedContents');
      expect(seen.headers['x-goog-api-key']).toBe('AIzaSy-embed-secret');
      expect(JSON.parse(seen.body)).toEqual({
        requests: input.map((text) => ({
          model: 'models/gemini-embedding-001',
          content: { parts: [{ text }] },
          outputDimensionality: 8,
        })),
      });
    });

    it('scales vectors shortened by outputDimensionality to unit length, as OpenAI answers `dimensions`', async () => {
      // Gemini returns only its full 3072 values of unit length; a shortened vector is the first values of it, as
      // they are. OpenAI's clients take a dot product for the cosine similarity (OpenAI's vectors, `dimensions`
      // shortened ones too, are of length 1): the gateway answered Gemini's as they came.
      const full = [0.6, 0.48, 0.64];
      up.handler = (_req, res, seen) => {
        const body = JSON.parse(seen.body) as GeminiBatch;
        sendJson(res, 200, {
          embeddings: body.requests.map((r) => ({ values: full.slice(0, r.outputDimensionality ?? full.length) })),
        });
      };
      const shortened = await adapter.embed!({ target, input: ['a', 'b'], dimensions: 2 }, never);
      for (const v of shortened.embeddings) {
        // [0.6, 0.48] is of length 0.768...: the same direction, of length 1.
        expect(v).toHaveLength(2);
        expect(v[0] / v[1]).toBeCloseTo(0.6 / 0.48, 6);
        expect(Math.hypot(...v)).toBeCloseTo(1, 6);
      }
      // The full vector, already of unit length, comes as Gemini sent it.
      const whole = await adapter.embed!({ target, input: ['a'] }, never);
      expect(whole.embeddings).toEqual([full]);
      const asked = await adapter.embed!({ target, input: ['a'], dimensions: 3 }, never);
      expect(asked.embeddings).toEqual([full]);
    });

    it('splits more than 100 texts into calls of at most 100 and joins the vectors in input order', async () => {
      const input = Array.from({ length: 250 }, (_, i) => `${String.fromCharCode(33 + (i % 90))}${'x'.repeat(i)}`);
      const res = await adapter.embed!({ target, input }, never);
      expect(res.embeddings).toEqual(input.map(vectorOf));
      expect(up.requests.map((r) => (JSON.parse(r.body) as GeminiBatch).requests.length)).toEqual([100, 100, 50]);
      expect((JSON.parse(up.requests[0].body) as GeminiBatch).requests[0]).not.toHaveProperty('outputDimensionality');
    });

    it('fails the whole request when one batch fails, classified from the Gemini error', async () => {
      let calls = 0;
      up.handler = (_req, res, seen) => {
        calls++;
        if (calls === 2) {
          sendJson(res, 429, {
            error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED' },
          });
          return;
        }
        const body = JSON.parse(seen.body) as GeminiBatch;
        sendJson(res, 200, { embeddings: body.requests.map((r) => ({ values: vectorOf(r.content.parts[0].text) })) });
      };
      const input = Array.from({ length: 150 }, (_, i) => `text ${i}`);
      const err = await failure(adapter.embed!({ target, input }, never));
      expect(err).toMatchObject({ errorClass: ErrorClass.RateLimit, status: 429 });
      // The first 100 texts were embedded, and charged for: the failure says how much, as a cut stream's bill.
      const first = input.slice(0, 100).reduce((sum, t) => sum + countTextTokens(t), 0);
      expect(err.billed).toEqual({
        promptTokens: first,
        completionTokens: 0,
        totalTokens: first,
        cachedPromptTokens: 0,
      });
      // A first batch that fails cost nothing.
      calls = 1;
      const none = await failure(adapter.embed!({ target, input }, never));
      expect(none).toMatchObject({ errorClass: ErrorClass.RateLimit, status: 429 });
      expect(none.billed).toBeUndefined();
    });

    it("keeps the field a later batch's refusal names, as the first batch's refusal does", async () => {
      // A Gemini model behind a proxy that answers with an OpenAI-style envelope naming the field (`error.param`).
      let calls = 0;
      let failOn = 2;
      up.handler = (_req, res, seen) => {
        calls++;
        if (calls === failOn) {
          sendJson(res, 400, {
            error: { code: 400, message: 'outputDimensionality is out of range', param: 'dimensions' },
          });
          return;
        }
        const body = JSON.parse(seen.body) as GeminiBatch;
        sendJson(res, 200, { embeddings: body.requests.map((r) => ({ values: vectorOf(r.content.parts[0].text) })) });
      };
      const input = Array.from({ length: 150 }, (_, i) => `text ${i}`);
      const later = await failure(adapter.embed!({ target, input }, never));
      expect(later).toMatchObject({ errorClass: ErrorClass.InvalidRequest, status: 400, param: 'dimensions' });
      expect(later.billed?.promptTokens).toBeGreaterThan(0);
      calls = 0;
      failOn = 1;
      const first = await failure(adapter.embed!({ target, input }, never));
      expect(first).toMatchObject({ errorClass: ErrorClass.InvalidRequest, status: 400, param: 'dimensions' });
    });

    it('refuses token arrays before any call and a short answer after one', async () => {
      const tokens = await failure(adapter.embed!({ target, input: [[1, 2, 3]] }, never));
      expect(tokens.errorClass).toBe(ErrorClass.InvalidRequest);
      // Never sent: the model's other deployments may take it.
      expect(tokens.untranslatable).toBe(true);
      expect(up.requests).toHaveLength(0);
      up.handler = (_req, res) => sendJson(res, 200, { embeddings: [{ values: [1] }] });
      const short = await failure(adapter.embed!({ target, input: ['a', 'b'] }, never));
      expect(short.errorClass).toBe(ErrorClass.Provider);
    });
  });

  describe('Ollama /api/embed', () => {
    let adapter: ProviderAdapter;
    let target: AdapterTarget;

    beforeEach(() => {
      adapter = new AdapterRegistry(pool).get('ollama');
      target = { baseUrl: up.origin, model: 'nomic-embed-text', timeoutMs: 2000, poolKey: 'o', contextWindow: 2048 };
    });

    it('sends the inputs with truncate false, dimensions and num_ctx, and reads prompt_eval_count', async () => {
      const input = ['first', 'second one'];
      up.handler = (_req, res) =>
        sendJson(res, 200, {
          model: 'nomic-embed-text',
          embeddings: input.map(vectorOf),
          total_duration: 14143917,
          load_duration: 1019500,
          prompt_eval_count: 7,
        });
      const res = await adapter.embed!({ target, input, dimensions: 64 }, never);
      expect(res.embeddings).toEqual(input.map(vectorOf));
      expect(res.usage).toEqual({ promptTokens: 7, completionTokens: 0, totalTokens: 7, cachedPromptTokens: 0 });
      const seen = up.requests[0];
      expect(`${seen.method} ${seen.url}`).toBe('POST /api/embed');
      expect(JSON.parse(seen.body)).toEqual({
        model: 'nomic-embed-text',
        input,
        truncate: false,
        dimensions: 64,
        options: { num_ctx: 2048 },
      });
    });

    it('estimates usage when the server reports no prompt_eval_count', async () => {
      up.handler = (_req, res) => sendJson(res, 200, { embeddings: [[0.5, 0.5]] });
      const res = await adapter.embed!({ target, input: ['a longer sentence to count'] }, never);
      expect(res.usage.promptTokens).toBe(countTextTokens('a longer sentence to count'));
    });

    it('classifies an input over the context window as context length, and refuses token arrays', async () => {
      up.handler = (_req, res) => sendJson(res, 400, { error: 'input exceeds maximum context length' });
      const err = await failure(adapter.embed!({ target, input: ['long'] }, never));
      expect(err).toMatchObject({ errorClass: ErrorClass.ContextLength, status: 400 });
      const tokens = await failure(adapter.embed!({ target, input: [[1, 2]] }, never));
      expect(tokens.errorClass).toBe(ErrorClass.InvalidRequest);
      expect(up.requests).toHaveLength(1);
    });
  });
});
