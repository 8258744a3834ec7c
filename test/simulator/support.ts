import { parseSse, type SseEvent } from '@aigw/testing';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** POST JSON and read the whole answer. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export function json<T = Record<string, unknown>>(reply: Reply): T {
  return JSON.parse(reply.text) as T;
}

export function events(reply: Reply): SseEvent[] {
  return parseSse(reply.text);
}

/** Parsed `data:` payloads of an OpenAI stream, `[DONE]` kept as the string. */
export function openAiChunks(reply: Reply): unknown[] {
  return events(reply).map((e) => (e.data === '[DONE]' ? e.data : (JSON.parse(e.data) as unknown)));
}

export interface OpenAiChunk {
  choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } } | null;
  error?: { type: string; message: string };
}

/** Reads a stream until it ends or breaks; returns what arrived and the error, if any. */
export async function readUntilBroken(res: Response): Promise<{ text: string; error: unknown }> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
    }
    return { text, error: null };
  } catch (error) {
    return { text, error };
  }
}

export const chat = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'sim-gpt',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say hello to the tests.' },
  ],
  ...patch,
});

export const message = (patch: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'sim-claude',
  max_tokens: 256,
  system: 'You are terse.',
  messages: [{ role: 'user', content: 'Say hello to the tests.' }],
  ...patch,
});

/** Characters the simulator counts for the default `chat()` / `message()` bodies. */
export const DEFAULT_PROMPT_CHARS = 'You are terse.'.length + 'Say hello to the tests.'.length;
