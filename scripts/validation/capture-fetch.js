// Jest setup file for `capture-bodies.mjs`: records the JSON bodies the test process POSTs to the generation
// endpoints (through the gateway or straight to a simulator) into $CAPTURE_BODIES_FILE, one JSON line each.
const { appendFileSync } = require('node:fs');

const ENDPOINTS = ['/v1/chat/completions', '/v1/messages', '/v1/embeddings', '/api/v1/ai/generate', '/api/v1/ai/jobs'];
const file = process.env.CAPTURE_BODIES_FILE;
const original = globalThis.fetch;

function urlOf(input) {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input && typeof input.url === 'string' ? input.url : '';
}

if (file && typeof original === 'function') {
  globalThis.fetch = function capturingFetch(input, init) {
    try {
      const method = (init && init.method) || (input && input.method) || 'GET';
      const body = init && init.body;
      const pathname = new URL(urlOf(input), 'http://x').pathname;
      const endpoint = ENDPOINTS.find((e) => pathname.endsWith(e));
      if (endpoint && method.toUpperCase() === 'POST' && typeof body === 'string') {
        appendFileSync(file, `${JSON.stringify({ endpoint, body, suite: expect.getState().testPath })}\n`);
      }
    } catch {
      // Capturing must never change what the test sees.
    }
    return original.call(this, input, init);
  };
}
