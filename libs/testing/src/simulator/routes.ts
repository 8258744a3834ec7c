import { type IncomingHttpHeaders } from 'node:http';
import { anthropicWire } from './anthropic-wire';
import { geminiModels, geminiWire } from './gemini-wire';
import { modelsBody } from './models';
import { ollamaTags, ollamaWire } from './ollama-wire';
import { openAiWire } from './openai-wire';
import { tgiInfo, tgiWire } from './tgi-wire';
import { type RouteHints, type WireFormat } from './wire';

/** What a provider request asks for, and in which provider's wire format to answer (errors included). */
export type SimRoute =
  | { kind: 'generate'; wire: WireFormat; hints: RouteHints }
  | { kind: 'embed'; wire: WireFormat; hints: RouteHints & { batch?: boolean } }
  | { kind: 'list'; wire: WireFormat; body: (models: readonly string[]) => string }
  | { kind: 'refuse'; wire: WireFormat; status: number; message: string };

const GEMINI_CALL =
  /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

/** The wire format whose error shape a request gets: the provider its path (or Anthropic's header) belongs to. */
function wireOfPath(path: string, headers: IncomingHttpHeaders): WireFormat {
  if (path.startsWith('/v1beta/')) {
    return geminiWire;
  }
  if (path.startsWith('/api/')) {
    return ollamaWire;
  }
  if (path === '/generate' || path === '/generate_stream' || path === '/info') {
    return tgiWire;
  }
  return path === '/v1/messages' || headers['anthropic-version'] !== undefined ? anthropicWire : openAiWire;
}

function geminiCall(path: string, query: URLSearchParams): SimRoute | null {
  const m = GEMINI_CALL.exec(path);
  if (m === null) {
    return null;
  }
  const model = decodeURIComponent(m[1]);
  if (m[2] === 'embedContent' || m[2] === 'batchEmbedContents') {
    return { kind: 'embed', wire: geminiWire, hints: { model, batch: m[2] === 'batchEmbedContents' } };
  }
  if (m[2] === 'generateContent') {
    return { kind: 'generate', wire: geminiWire, hints: { model, stream: false } };
  }
  if (query.get('alt') !== 'sse') {
    // Without alt=sse Gemini streams one JSON array; the gateway (and every SDK) asks for SSE.
    return {
      kind: 'refuse',
      wire: geminiWire,
      status: 400,
      message: 'The provider simulator serves streamGenerateContent only with alt=sse',
    };
  }
  return { kind: 'generate', wire: geminiWire, hints: { model, stream: true } };
}

/** Routes every provider request the simulator serves (the control routes are handled before). */
export function routeOf(method: string, path: string, query: URLSearchParams, headers: IncomingHttpHeaders): SimRoute {
  const wire = wireOfPath(path, headers);
  const unknown: SimRoute = {
    kind: 'refuse',
    wire,
    status: 404,
    message: `Unknown route ${method} ${path} (provider simulator)`,
  };
  if (method === 'POST') {
    switch (path) {
      case '/v1/chat/completions':
        return { kind: 'generate', wire: openAiWire, hints: {} };
      case '/v1/messages':
        return { kind: 'generate', wire: anthropicWire, hints: {} };
      case '/v1/embeddings':
        return { kind: 'embed', wire: openAiWire, hints: {} };
      case '/api/embed':
        return { kind: 'embed', wire: ollamaWire, hints: {} };
      case '/api/chat':
        return { kind: 'generate', wire: ollamaWire, hints: {} };
      case '/generate':
        return { kind: 'generate', wire: tgiWire, hints: { stream: false } };
      case '/generate_stream':
        return { kind: 'generate', wire: tgiWire, hints: { stream: true } };
      default:
        return geminiCall(path, query) ?? unknown;
    }
  }
  if (method === 'GET') {
    switch (path) {
      case '/v1/models':
        return { kind: 'list', wire, body: modelsBody };
      case '/v1beta/models':
        return { kind: 'list', wire: geminiWire, body: geminiModels };
      case '/api/tags':
        return { kind: 'list', wire: ollamaWire, body: ollamaTags };
      case '/info':
        return { kind: 'list', wire: tgiWire, body: tgiInfo };
    }
  }
  return unknown;
}

/** Credentials as each provider takes them: a bearer token, `x-api-key`, `x-goog-api-key` or Gemini's `?key=`. */
export function hasAuth(headers: IncomingHttpHeaders, query: URLSearchParams): boolean {
  return (
    Boolean(headers.authorization) ||
    Boolean(headers['x-api-key']) ||
    Boolean(headers['x-goog-api-key']) ||
    Boolean(query.get('key'))
  );
}
