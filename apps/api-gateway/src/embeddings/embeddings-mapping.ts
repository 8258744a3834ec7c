import type { GenerationRequest, GenerationResult } from '@aigw/core';
import { applyRoutingChoices, isSet, type RequestFrame } from '../generation/request-frame';
import { extraFieldsOf } from '../openai/openai-mapping';
import { EMBEDDINGS_FIELDS, type EmbeddingInputBody, type EmbeddingsDto } from './embeddings.dto';

/** A single string or token array is a list of one; a list of token ids is one token array. */
function inputList(input: EmbeddingInputBody): string[] | number[][] {
  if (typeof input === 'string') {
    return [input];
  }
  if (input.length > 0 && typeof input[0] === 'number') {
    return [input as number[]];
  }
  return input as string[] | number[][];
}

/** `body` is the request body as received, for the pass-through of fields the DTO does not declare. */
export function embeddingsRequest(dto: EmbeddingsDto, frame: RequestFrame, body?: unknown): GenerationRequest {
  const options: GenerationRequest['options'] = isSet(dto.user) ? { user: dto.user } : {};
  // Servers' own fields such as `input_type` (NVIDIA NIM, Cohere and Voyage through LiteLLM: query or passage
  // vectors), vLLM's `truncate_prompt_tokens`, Jina's `task`: routed to the OpenAI-compatible family only (the
  // native Gemini and Ollama APIs have no pass-through).
  const extra = extraFieldsOf(body, EMBEDDINGS_FIELDS);
  if (extra !== undefined) {
    options.extra = extra;
  }
  const request: GenerationRequest = {
    requestId: frame.requestId,
    model: dto.model,
    messages: [],
    options,
    stream: false,
    userId: frame.userId,
    apiKeyId: frame.apiKeyId,
    deadlineAt: frame.deadlineAt,
    receivedAt: frame.receivedAt,
    embeddings: { input: inputList(dto.input) },
  };
  if (isSet(dto.dimensions) && request.embeddings !== undefined) {
    request.embeddings.dimensions = dto.dimensions;
  }
  applyRoutingChoices(request, dto, frame);
  return request;
}

/** Little-endian float32, as OpenAI encodes `encoding_format: base64` (its SDKs decode it so). */
export function base64Vector(vector: readonly number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) {
    bytes.writeFloatLE(vector[i], i * 4);
  }
  return bytes.toString('base64');
}

export interface EmbeddingList {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** `model` is the deployment that answered (`provider/model`), as for chat completions. */
export function embeddingListBody(result: GenerationResult, format: 'float' | 'base64'): EmbeddingList {
  const vectors = result.embeddings ?? [];
  return {
    object: 'list',
    data: vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? base64Vector(v) : v,
    })),
    model: `${result.provider}/${result.model}`,
    usage: { prompt_tokens: result.usage.promptTokens, total_tokens: result.usage.promptTokens },
  };
}
