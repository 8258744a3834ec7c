import { merged, type ReplyPiece, type ToolCallDelta } from '@aigw/core';

/**
 * A delta too big to publish in one message (one provider delta over REPLY_PUBLISH_MAX_CHARS: a tool call's arguments
 * written in one go, a long text) as pieces a client reads as the same stream: its text, reasoning, refusal and each
 * tool call's arguments cut into slices of `sliceChars` (the client appends them, as it appends any deltas), in the
 * order the gateway relays a piece's fields; a tool call's id and name on its first slice, the logprobs with the last
 * text (else refusal) slice, the finish reason on the last piece. A signature, a redacted block and the logprobs are
 * not cut, nor are the sources (citations, search results, annotations: on a piece of their own, first): one over
 * the limit on its own stays too big. Only on that rare path; nothing else is cut.
 */
export function cutPiece(piece: ReplyPiece, sliceChars: number): ReplyPiece[] {
  const parts: ReplyPiece[] = [];
  if (piece.citations !== undefined || piece.searchResults !== undefined || piece.annotations !== undefined) {
    // The sources lead, as the gateway relays a piece's fields: whole (they are not cut).
    const sources: ReplyPiece = { text: '' };
    if (piece.citations !== undefined) {
      sources.citations = piece.citations;
    }
    if (piece.searchResults !== undefined) {
      sources.searchResults = piece.searchResults;
    }
    if (piece.annotations !== undefined) {
      sources.annotations = piece.annotations;
    }
    parts.push(sources);
  }
  for (const reasoning of slices(piece.reasoning ?? '', sliceChars)) {
    parts.push({ text: '', reasoning });
  }
  if (piece.reasoningSignature !== undefined || piece.redactedReasoning !== undefined) {
    const block: ReplyPiece = { text: '' };
    if (piece.reasoningSignature !== undefined) {
      block.reasoningSignature = piece.reasoningSignature;
    }
    if (piece.redactedReasoning !== undefined) {
      block.redactedReasoning = piece.redactedReasoning;
    }
    parts.push(block);
  }
  const texts = slices(piece.text, sliceChars).map((text): ReplyPiece => ({ text }));
  const refusals = slices(piece.refusal ?? '', sliceChars).map((refusal): ReplyPiece => ({ text: '', refusal }));
  if (piece.logprobs !== undefined) {
    const carrier = texts.at(-1) ?? refusals.at(-1);
    if (carrier === undefined) {
      refusals.push({ text: '', logprobs: piece.logprobs });
    } else {
      carrier.logprobs = piece.logprobs;
    }
  }
  parts.push(...texts, ...refusals);
  for (const call of piece.toolCalls ?? []) {
    for (const fragment of cutToolCall(call, sliceChars)) {
      parts.push({ text: '', toolCalls: [fragment] });
    }
  }
  if (piece.finishReason !== undefined) {
    if (parts.length === 0) {
      parts.push({ text: '' });
    }
    parts[parts.length - 1].finishReason = piece.finishReason;
  }
  return parts;
}

function cutToolCall(call: ToolCallDelta, sliceChars: number): ToolCallDelta[] {
  const args = call.arguments;
  if (args === undefined || args.length <= sliceChars) {
    return [call];
  }
  return slices(args, sliceChars).map((slice, i) =>
    i === 0 ? merged(call, { arguments: slice }) : { index: call.index, arguments: slice },
  );
}

/** `s` in slices of at most `size` code units, never between the halves of a surrogate pair; none for ''. */
function slices(s: string, size: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < s.length;) {
    let end = Math.min(s.length, at + size);
    if (end < s.length && end - at > 1 && isHighSurrogate(s.charCodeAt(end - 1))) {
      end--;
    }
    out.push(s.slice(at, end));
    at = end;
  }
  return out;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
