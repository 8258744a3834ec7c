import type { ChatMessage, ContentPart } from '@aigw/core';
import type { AdapterRequest } from '../types';

/** Anthropic requires `max_tokens`; this is what a request that does not set it gets. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 1024;

export type AnthropicImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
export type AnthropicBlock = { type: 'text'; text: string } | { type: 'image'; source: AnthropicImageSource };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

export interface AnthropicPrompt {
  system?: string;
  messages: AnthropicMessage[];
}

const DATA_URL = /^data:([^;,]+);base64,/;

function imageSource(url: string): AnthropicImageSource {
  const m = DATA_URL.exec(url);
  return m === null ? { type: 'url', url } : { type: 'base64', media_type: m[1], data: url.slice(m[0].length) };
}

function blocksOf(parts: ContentPart[]): AnthropicBlock[] {
  const blocks: AnthropicBlock[] = [];
  for (const p of parts) {
    if (p.type === 'text') {
      // Anthropic rejects empty text blocks.
      if (p.text.length > 0) {
        blocks.push({ type: 'text', text: p.text });
      }
    } else {
      blocks.push({ type: 'image', source: imageSource(p.image_url.url) });
    }
  }
  return blocks;
}

function textOf(content: ChatMessage['content']): string {
  if (content === null) {
    return '';
  }
  if (typeof content === 'string') {
    return content;
  }
  let text = '';
  for (const p of content) {
    if (p.type === 'text' && p.text.length > 0) {
      text = text.length === 0 ? p.text : `${text}\n${p.text}`;
    }
  }
  return text;
}

function asBlocks(content: string | AnthropicBlock[]): AnthropicBlock[] {
  if (typeof content !== 'string') {
    return content;
  }
  return content.length > 0 ? [{ type: 'text', text: content }] : [];
}

function merge(a: string | AnthropicBlock[], b: string | AnthropicBlock[]): string | AnthropicBlock[] {
  if (typeof a === 'string' && typeof b === 'string') {
    if (a.length === 0) {
      return b;
    }
    return b.length === 0 ? a : `${a}\n\n${b}`;
  }
  return [...asBlocks(a), ...asBlocks(b)];
}

/**
 * OpenAI-style messages to the Messages API: system messages (wherever they are) become the top-level `system`;
 * consecutive messages of one role are merged because Anthropic requires user/assistant alternation. `tool`
 * results have no tool_use to refer to in our message model, so they are passed on as user text.
 */
export function toAnthropicPrompt(messages: ChatMessage[]): AnthropicPrompt {
  let system: string | undefined;
  const out: AnthropicMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system') {
      const text = textOf(m.content);
      if (text.length > 0) {
        system = system === undefined ? text : `${system}\n\n${text}`;
      }
      continue;
    }
    const role = m.role === 'assistant' ? 'assistant' : 'user';
    const content = m.content === null ? '' : typeof m.content === 'string' ? m.content : blocksOf(m.content);
    const last = out.length > 0 ? out[out.length - 1] : undefined;
    if (last !== undefined && last.role === role) {
      last.content = merge(last.content, content);
    } else {
      out.push({ role, content });
    }
  }
  return system === undefined ? { messages: out } : { system, messages: out };
}

/** Request body for `POST /v1/messages`. */
export function anthropicBody(req: AdapterRequest, stream: boolean): string {
  const o = req.options;
  const prompt = toAnthropicPrompt(req.messages);
  return JSON.stringify({
    model: req.target.model,
    max_tokens: o.maxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS,
    system: prompt.system,
    messages: prompt.messages,
    temperature: o.temperature,
    top_p: o.topP,
    stop_sequences: o.stop !== undefined && o.stop.length > 0 ? o.stop : undefined,
    stream: stream ? true : undefined,
  });
}

/** Anthropic stop reasons in OpenAI's finish-reason vocabulary; unknown ones pass through unchanged. */
export function finishReasonOf(stopReason: string | null | undefined): string | null {
  switch (stopReason) {
    case undefined:
    case null:
      return null;
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return stopReason;
  }
}
