import { freshToolCallId, merged, type ToolCall, type ToolCallDelta } from '@aigw/core';

/**
 * The tool call ids of one answer served again (a cache hit, a coalesced follower's copy of its leader's answer):
 * each provider id gets one fresh id (`freshToolCallId`), the same wherever the answer names it (a stream's first
 * fragment of the call, the whole answer it ends with), and no two calls of the answer share one. Two conversations
 * holding the same tool call id confuse the clients and providers that key state by it.
 */
export class FreshToolCallIds {
  private readonly ids = new Map<string, string>();
  private readonly used = new Set<string>();

  of(id: string): string {
    let fresh = this.ids.get(id);
    if (fresh === undefined) {
      fresh = freshToolCallId(id);
      // An id without a random part comes back as it is; a drawn one may (rarely, when short) repeat another.
      while (this.used.has(fresh) && fresh !== id) {
        fresh = freshToolCallId(id);
      }
      this.ids.set(id, fresh);
      this.used.add(fresh);
    }
    return fresh;
  }

  calls(calls: readonly ToolCall[]): ToolCall[] {
    return calls.map((c) => ({ id: this.of(c.id), type: c.type, function: c.function }));
  }

  /** A stream's tool-call fragments: only a call's first fragment names its id. */
  deltas(pieces: readonly ToolCallDelta[]): readonly ToolCallDelta[] {
    return pieces.some((p) => p.id !== undefined)
      ? pieces.map((p) => (p.id === undefined ? p : merged(p, { id: this.of(p.id) })))
      : pieces;
  }
}
