import { countTextTokens, ErrorClass, ProviderCallError } from '@aigw/core';
import type { EmbeddingsAdapterRequest } from '../types';
import { embedUsage, estimatedEmbedUsage, textInputs, unitVector, vectorList, vectorOf } from './embedding-checks';

const target = { baseUrl: 'http://127.0.0.1:1', model: 'm', timeoutMs: 1000, poolKey: 'k' };

function request(input: EmbeddingsAdapterRequest['input']): EmbeddingsAdapterRequest {
  return { target, input };
}

function thrown(f: () => unknown): ProviderCallError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderCallError);
    return err as ProviderCallError;
  }
  throw new Error('expected a ProviderCallError');
}

describe('textInputs', () => {
  it('gives the texts in order', () => {
    expect(textInputs(request(['a', 'b c']), 'Ollama')).toEqual(['a', 'b c']);
  });

  it('refuses token arrays as an invalid request naming the API, not a provider failure', () => {
    const err = thrown(() => textInputs(request([[1, 2, 3]]), 'the Gemini API'));
    expect(err.errorClass).toBe(ErrorClass.InvalidRequest);
    expect(err.message).toBe('the Gemini API embeds text only, not token arrays');
    expect(err.status).toBeUndefined();
  });
});

describe('vectorList', () => {
  it('gives a list holding one item per input', () => {
    const list = [[1], [2]];
    expect(vectorList(list, 2, 200)).toBe(list);
  });

  it.each([
    [[[1]], 'expected 2 embeddings, got 1'],
    [[[1], [2], [3]], 'expected 2 embeddings, got 3'],
    [undefined, 'expected 2 embeddings, got none'],
    [{ 0: [1], 1: [2] }, 'expected 2 embeddings, got none'],
  ])('refuses %p as a provider failure with the status', (list, message) => {
    const err = thrown(() => vectorList(list, 2, 200));
    expect(err).toMatchObject({ errorClass: ErrorClass.Provider, status: 200 });
    expect(err.message).toBe(`upstream HTTP 200: ${message}`);
  });
});

describe('vectorOf', () => {
  it('gives a list of numbers as it is (an empty one too)', () => {
    expect(vectorOf([0.5, -1, 3e-8], 200)).toEqual([0.5, -1, 3e-8]);
    expect(vectorOf([], 200)).toEqual([]);
  });

  it.each([[null], [undefined], ['AACAPw=='], [[0.5, '1']], [[0.5, null]], [{ values: [1] }]])(
    'refuses %p as a provider failure',
    (v) => {
      const err = thrown(() => vectorOf(v, 201));
      expect(err).toMatchObject({ errorClass: ErrorClass.Provider, status: 201 });
      expect(err.message).toBe('upstream HTTP 201: an embedding is not a vector');
    },
  );
});

describe('embeddings usage', () => {
  it('is prompt tokens only', () => {
    expect(embedUsage(7)).toEqual({ promptTokens: 7, completionTokens: 0, totalTokens: 7, cachedPromptTokens: 0 });
  });

  it('is estimated with the gateway tokenizer when the API reports none', () => {
    const texts = ['first text', 'a second, longer text to count'];
    const tokens = countTextTokens(texts[0]) + countTextTokens(texts[1]);
    expect(estimatedEmbedUsage(texts)).toEqual(embedUsage(tokens));
    expect(estimatedEmbedUsage([])).toEqual(embedUsage(0));
  });
});

describe('unitVector', () => {
  it('scales a vector to unit length, in float32', () => {
    expect(unitVector([3, 4])).toEqual([Math.fround(0.6), Math.fround(0.8)]);
  });

  it('returns a vector already of unit length to float32 precision, or of zeros, as it came', () => {
    const unit = [Math.fround(0.6), Math.fround(0.8)];
    expect(unitVector(unit)).toBe(unit);
    const zeros = [0, 0, 0];
    expect(unitVector(zeros)).toBe(zeros);
  });
});
