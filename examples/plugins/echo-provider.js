'use strict';
// A tiny provider plugin: a whole provider family in one CommonJS module, loaded by the router-worker at boot
// because a catalog entry names it:
//
//   - id: echo
//     kind: plugin
//     plugin: ./examples/plugins/echo-provider.js   # relative to the working directory, or a package name
//     baseUrl: http://127.0.0.1                     # required by the catalog; this plugin calls nothing
//     models:
//       - { name: echo-1, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192 }
//       - { name: echo-embed, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [embeddings] }
//
// It answers with the last user message, so it needs no network. A real plugin would speak its provider's HTTP API
// through `context.pool` (the gateway's pooled keep-alive client: `pool.request(target, call, signal)`) and report
// failures as ProviderCallError from @aigw/core, the way the built-in adapters in libs/adapters do.

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'user') {
      return typeof m.content === 'string'
        ? m.content
        : (m.content || []).map((p) => (p.type === 'text' ? p.text : '')).join('');
    }
  }
  return '';
}

function usageOf(prompt, answer) {
  const promptTokens = Math.ceil(prompt.length / 4);
  const completionTokens = Math.ceil(answer.length / 4);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedPromptTokens: 0 };
}

/**
 * A vector of `dimensions` floats (8 unless asked) computed from the text alone, of unit length: the same text always
 * embeds alike, so a client (or a test) can check what it got.
 */
function echoVector(text, dimensions) {
  const v = new Array(dimensions).fill(0);
  for (let i = 0; i < text.length; i++) {
    v[i % dimensions] += ((text.charCodeAt(i) % 97) + 1) / 97;
  }
  v[0] += 1; // never all zeros (the empty string)
  const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  return v.map((x) => x / norm);
}

function createAdapter(_context) {
  return {
    kind: 'plugin',
    async generate(req, signal) {
      signal.throwIfAborted();
      const text = `echo: ${lastUserText(req.messages)}`;
      return {
        id: `echo-${Date.now()}`,
        created: Math.floor(Date.now() / 1000),
        text,
        finishReason: 'stop',
        usage: usageOf(JSON.stringify(req.messages), text),
      };
    },
    async *stream(req, signal) {
      const text = `echo: ${lastUserText(req.messages)}`;
      const words = text.match(/\s*\S+/g) || [];
      for (let i = 0; i < words.length; i++) {
        signal.throwIfAborted();
        yield i === 0 ? { text: words[i], id: `echo-${Date.now()}` } : { text: words[i] };
      }
      yield { text: '', finishReason: 'stop', usage: usageOf(JSON.stringify(req.messages), text) };
    },
    // Optional: a plugin that implements `embed` serves `POST /v1/embeddings` for its models declaring the
    // `embeddings` capability (one that declares it without `embed` does not load). Text only: token-id input is
    // routed to OpenAI-compatible providers alone.
    async embed(req, signal) {
      signal.throwIfAborted();
      const embeddings = req.input.map((text) => echoVector(String(text), req.dimensions || 8));
      const promptTokens = req.input.reduce((sum, text) => sum + Math.ceil(String(text).length / 4), 0);
      return {
        embeddings,
        usage: { promptTokens, completionTokens: 0, totalTokens: promptTokens, cachedPromptTokens: 0 },
      };
    },
    async listModels() {
      return ['echo-1', 'echo-embed'];
    },
    async healthCheck() {
      return { ok: true, latencyMs: 0 };
    },
    classifyError(err) {
      return err;
    },
  };
}

module.exports = { createAdapter };
