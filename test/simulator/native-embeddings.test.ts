import { DEFAULT_EMBEDDING_DIMENSIONS, ProviderSimulator, simulatedEmbedding } from '@aigw/testing';
import { json, postJson } from './support';

/** The simulator's Gemini `embedContent` / `batchEmbedContents` and Ollama `/api/embed`, in their wire formats. */
describe('simulator: native embeddings', () => {
  const sim = new ProviderSimulator();

  beforeAll(async () => {
    await sim.start();
  });
  afterAll(async () => {
    await sim.stop();
  });

  const request = (text: string, dims?: number): Record<string, unknown> => ({
    model: 'models/gemini-embedding-001',
    content: { parts: [{ text }] },
    ...(dims === undefined ? {} : { outputDimensionality: dims }),
  });

  it('Gemini batchEmbedContents: one vector per request, in order, with outputDimensionality', async () => {
    const reply = await postJson(`${sim.url}/v1beta/models/gemini-embedding-001:batchEmbedContents`, {
      requests: [request('a', 4), request('b', 4)],
    });
    expect(reply.status).toBe(200);
    // Shortened as the Gemini API shortens: the first values of the whole vector, not scaled to unit length.
    const whole = (text: string) => simulatedEmbedding('gemini-embedding-001', text, DEFAULT_EMBEDDING_DIMENSIONS);
    expect(json(reply)).toEqual({
      embeddings: [{ values: whole('a').slice(0, 4) }, { values: whole('b').slice(0, 4) }],
    });
  });

  it('Gemini embedContent: one vector', async () => {
    const { model: _model, ...single } = request('solo');
    const reply = await postJson(`${sim.url}/v1beta/models/gemini-embedding-001:embedContent`, single);
    expect(json(reply)).toEqual({
      embedding: { values: simulatedEmbedding('gemini-embedding-001', 'solo', DEFAULT_EMBEDDING_DIMENSIONS) },
    });
  });

  it('Gemini refuses more than 100 requests in one batch, and a request naming another model, in its error shape', async () => {
    const many = await postJson(`${sim.url}/v1beta/models/gemini-embedding-001:batchEmbedContents`, {
      requests: Array.from({ length: 101 }, () => request('x')),
    });
    expect(many.status).toBe(400);
    expect(json<{ error: { status: string; message: string } }>(many).error).toMatchObject({
      status: 'INVALID_ARGUMENT',
      message: expect.stringContaining('at most 100 requests') as unknown,
    });
    const other = await postJson(`${sim.url}/v1beta/models/gemini-embedding-001:batchEmbedContents`, {
      requests: [{ ...request('x'), model: 'models/other' }],
    });
    expect(other.status).toBe(400);
  });

  it('Ollama /api/embed: a string or a list, dimensions, prompt_eval_count; truncate false refuses an input over num_ctx', async () => {
    const one = json<{ embeddings: number[][]; prompt_eval_count: number }>(
      await postJson(`${sim.url}/api/embed`, { model: 'nomic-embed-text', input: 'abcdefgh', dimensions: 5 }),
    );
    expect(one.embeddings).toEqual([simulatedEmbedding('nomic-embed-text', 'abcdefgh', 5)]);
    expect(one.prompt_eval_count).toBe(2);
    const long = 'y'.repeat(100);
    const cut = json<{ embeddings: number[][] }>(
      await postJson(`${sim.url}/api/embed`, { model: 'nomic-embed-text', input: [long], options: { num_ctx: 10 } }),
    );
    // Truncated by default: the start of the input is embedded.
    expect(cut.embeddings).toEqual([
      simulatedEmbedding('nomic-embed-text', long.slice(0, 40), DEFAULT_EMBEDDING_DIMENSIONS),
    ]);
    const refused = await postJson(`${sim.url}/api/embed`, {
      model: 'nomic-embed-text',
      input: [long],
      truncate: false,
      options: { num_ctx: 10 },
    });
    expect(refused.status).toBe(400);
    expect(json(refused)).toEqual({ error: 'input exceeds maximum context length' });
  });
});
