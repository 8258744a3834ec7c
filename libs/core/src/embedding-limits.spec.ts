import { embeddingInputsLimit } from './embedding-limits';

describe('embeddingInputsLimit', () => {
  const openai = (baseUrl: string, maxEmbeddingInputs?: number) =>
    embeddingInputsLimit({ kind: 'openai', baseUrl, maxEmbeddingInputs });

  it("is the provider's own setting when it has one, whatever its family", () => {
    expect(openai('http://tei:8080/v1', 32)).toBe(32);
    expect(openai('https://api.openai.com/v1', 16)).toBe(16);
    expect(embeddingInputsLimit({ kind: 'gemini', baseUrl: 'https://g/v1beta', maxEmbeddingInputs: 10 })).toBe(10);
  });

  it('is the documented limit of an API known by its host, and none for a server of unknown limit', () => {
    expect(openai('https://api.openai.com/v1')).toBe(2048);
    expect(openai('https://api.cohere.ai/compatibility/v1')).toBe(96);
    expect(openai('https://api.voyageai.com/v1')).toBe(1000);
    expect(openai('https://xyz.us-east-1.aws.endpoints.huggingface.cloud/v1')).toBe(32);
    expect(openai('http://127.0.0.1:8000/v1')).toBeUndefined();
    expect(embeddingInputsLimit({ kind: 'gemini', baseUrl: 'https://generativelanguage.googleapis.com/v1beta' })).toBe(
      100,
    );
    expect(embeddingInputsLimit({ kind: 'ollama', baseUrl: 'http://127.0.0.1:11434' })).toBeUndefined();
  });
});
