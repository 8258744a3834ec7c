import { PDF_BYTES_PER_PAGE, PDF_TOKENS_PER_PAGE, type Deployment, type GenerationRequest } from '@aigw/core';
import { reachable, worstCaseCharge } from './worst-case';

const deployment = (id: string, promptPer1k: number, completionPer1k: number, enabled = true): Deployment =>
  ({
    id,
    provider: { id: id.split('/')[0], enabled: true },
    model: { name: id.split('/')[1], promptPer1k, completionPer1k, enabled },
  }) as Deployment;

const chat = (content: string, maxTokens?: number): Pick<GenerationRequest, 'model' | 'messages' | 'options'> => ({
  model: 'auto',
  messages: [{ role: 'user', content }],
  options: maxTokens === undefined ? {} : { maxTokens },
});

describe('worstCaseCharge', () => {
  const cheap = deployment('a/cheap', 0.001, 0.002);
  const dear = deployment('b/dear', 0.01, 0.03);

  it('charges the prompt estimate plus max_tokens at the highest prompt and completion prices', () => {
    const c = worstCaseCharge(chat('hello there', 100), [cheap, dear], 4096);
    expect(c.tokens).toBeGreaterThan(100);
    const prompt = c.tokens - 100;
    expect(c.reserveUsd).toBeCloseTo((prompt / 1000) * 0.01 + (100 / 1000) * 0.03, 12);
  });

  it('uses the configured completion allowance when max_tokens is absent', () => {
    const c = worstCaseCharge(chat('hi'), [cheap], 500);
    expect(c.tokens).toBeGreaterThan(500);
    expect(c.reserveUsd).toBeGreaterThan((500 / 1000) * 0.002);
  });

  it('charges the fields passed through to the provider, at the higher of the prompt and completion prices', () => {
    const plain = worstCaseCharge(chat('answer from the manual', 100), [cheap, dear], 4096);
    const documents = [{ title: 'manual', text: Array.from({ length: 1000 }, () => 'word').join(' ') }];
    const request = chat('answer from the manual', 100);
    request.options.extra = { documents };
    const c = worstCaseCharge(request, [cheap, dear], 4096);
    const passed = c.tokens - plain.tokens;
    // vLLM renders the documents into the prompt: at least a token a word.
    expect(passed).toBeGreaterThanOrEqual(1000);
    expect(c.reserveUsd - plain.reserveUsd).toBeCloseTo((passed / 1000) * 0.03, 12);
    expect(c.mediaTokens).toBe(0);
  });

  it("charges the answer's JSON schema as prompt", () => {
    const plain = worstCaseCharge(chat('fill the form', 100), [cheap, dear], 4096);
    const properties = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`field_${i}`, { type: 'string', description: `the form's field ${i}` }]),
    );
    const request = chat('fill the form', 100);
    request.options.responseFormat = {
      type: 'json_schema',
      json_schema: { name: 'form', strict: true, schema: { type: 'object', properties } },
    };
    const c = worstCaseCharge(request, [cheap, dear], 4096);
    const schema = c.tokens - plain.tokens;
    expect(schema).toBeGreaterThanOrEqual(200 * 5);
    expect(c.reserveUsd - plain.reserveUsd).toBeCloseTo((schema / 1000) * 0.01, 12);
  });

  it('charges audio and file parts by their size, at the prompt price, and says how much of the charge they are', () => {
    const text = worstCaseCharge(chat('read this', 100), [cheap, dear], 4096);
    expect(text.mediaTokens).toBe(0);
    const pdf = Buffer.alloc(10 * PDF_BYTES_PER_PAGE).toString('base64');
    const c = worstCaseCharge(
      {
        model: 'auto',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'read this' },
              { type: 'file', file: { file_data: `data:application/pdf;base64,${pdf}` } },
            ],
          },
        ],
        options: { maxTokens: 100 },
      },
      [cheap, dear],
      4096,
    );
    expect(c.mediaTokens).toBe(10 * PDF_TOKENS_PER_PAGE);
    expect(c.tokens - text.tokens).toBe(c.mediaTokens);
    expect(c.reserveUsd - text.reserveUsd).toBeCloseTo((c.mediaTokens / 1000) * 0.01, 12);
    expect(c.mediaReserveUsd).toBeCloseTo((c.mediaTokens / 1000) * 0.01, 12);
  });

  it("reserves a prompt marked for Claude's 1-hour cache at twice the prompt price, the most its writes cost", () => {
    const claude = { ...dear, model: { ...dear.model, cacheWritePer1k: 0.0125 } } as Deployment;
    const plain = worstCaseCharge(chat('a long system prompt', 100), [cheap, claude], 4096);
    const prompt = plain.tokens - 100;
    expect(plain.reserveUsd).toBeCloseTo((prompt / 1000) * 0.0125 + (100 / 1000) * 0.03, 12);
    for (const mark of ['message', 'part', 'tool', 'call'] as const) {
      const request = chat('a long system prompt', 100);
      const long = { type: 'ephemeral', ttl: '1h' };
      if (mark === 'message') {
        request.messages[0].cache_control = long;
      } else if (mark === 'part') {
        request.messages[0].content = [{ type: 'text', text: 'a long system prompt', cache_control: long }];
      } else if (mark === 'tool') {
        request.options.tools = [{ type: 'function', function: { name: 'f' }, cache_control: long }];
      } else {
        request.messages.push({
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' }, cache_control: long }],
        });
      }
      const c = worstCaseCharge(request, [cheap, claude], 4096);
      const asked = c.tokens - 100;
      expect(c.reserveUsd).toBeCloseTo((asked / 1000) * 0.02 + (100 / 1000) * 0.03, 12);
    }
  });

  it('charges embeddings their input tokens only', () => {
    const texts = worstCaseCharge(
      { model: 'e', messages: [], options: {}, embeddings: { input: ['one two three', 'four'] } },
      [cheap],
      4096,
    );
    expect(texts.tokens).toBeGreaterThanOrEqual(4);
    expect(texts.tokens).toBeLessThan(20);
    expect(texts.reserveUsd).toBeCloseTo((texts.tokens / 1000) * 0.001, 12);
    const ids = worstCaseCharge(
      { model: 'e', messages: [], options: {}, embeddings: { input: [[1, 2, 3, 4], [5]] } },
      [cheap],
      4096,
    );
    expect(ids.tokens).toBe(5);
  });

  it('reaches every enabled deployment for an alias and the serving ones for a model', () => {
    const off = deployment('c/off', 1, 1, false);
    expect(reachable({ model: 'auto' }, [cheap, dear, off], () => [])).toEqual([cheap, dear]);
    expect(reachable({ model: 'cheap' }, [cheap, dear], () => [cheap])).toEqual([cheap]);
  });

  it('reaches every deployment of a pinned model name when fallback is allowed, as the worker may', () => {
    const pinned = deployment('a/shared', 0.001, 0.002);
    const other = deployment('b/shared', 0.01, 0.03);
    const offOther = deployment('c/shared', 1, 1, false);
    const all = [pinned, other, offOther, dear];
    expect(reachable({ model: 'a/shared' }, all, () => [pinned])).toEqual([pinned]);
    expect(reachable({ model: 'a/shared', allowFallback: false }, all, () => [pinned])).toEqual([pinned]);
    expect(reachable({ model: 'a/shared', allowFallback: true }, all, () => [pinned])).toEqual([pinned, other]);
    // The pinned deployment disabled: the worker still falls back to the model name's others.
    const pinnedOff = deployment('a/shared', 0.001, 0.002, false);
    expect(reachable({ model: 'a/shared', allowFallback: true }, [pinnedOff, other, dear], () => [])).toEqual([other]);
  });

  it("prices only the deployments the key's allowedModels leave (an alias, a model name, a pinned fallback)", () => {
    const sharedDear = deployment('b/cheap', 0.01, 0.03);
    const all = [cheap, dear, sharedDear];
    expect(reachable({ model: 'auto', allowedModels: ['cheap'] }, all, () => [])).toEqual([cheap, sharedDear]);
    expect(reachable({ model: 'auto', allowedModels: ['a/cheap'] }, all, () => [])).toEqual([cheap]);
    expect(reachable({ model: 'cheap', allowedModels: ['a/*'] }, all, () => [cheap, sharedDear])).toEqual([cheap]);
    expect(
      reachable({ model: 'a/cheap', allowFallback: true, allowedModels: ['a/cheap'] }, all, () => [cheap]),
    ).toEqual([cheap]);
    expect(reachable({ model: 'auto' }, all, () => [])).toEqual(all);
  });
});
