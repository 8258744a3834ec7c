import { type ProviderSimulator } from './provider-simulator';

/** A start-up banner that leaves no doubt this is a simulator, with the URLs to point clients at. */
export function simulatorBanner(sim: ProviderSimulator): string {
  const c = sim.config();
  const faults =
    c.failRate > 0 || c.failNext > 0
      ? `failRate=${c.failRate} failNext=${c.failNext} failMode=${c.failMode} failStatus=${c.failStatus.join(',')}`
      : 'none';
  const rule = '='.repeat(78);
  return [
    rule,
    ` PROVIDER SIMULATOR "${sim.name}": NOT a real LLM provider. Answers are canned text.`,
    rule,
    ` OpenAI base URL     ${sim.url}/v1        (POST /chat/completions, GET /models)`,
    ` Anthropic base URL  ${sim.url}           (POST /v1/messages)`,
    ` Gemini base URL     ${sim.url}/v1beta    (POST /models/{model}:generateContent, :streamGenerateContent?alt=sse)`,
    ` Ollama base URL     ${sim.url}           (POST /api/chat, GET /api/tags)`,
    ` TGI base URL        ${sim.url}           (POST /generate, /generate_stream, GET /info)`,
    ` models              ${c.models.join(', ')}`,
    ` latency             ${c.latencyMs} ms + jitter ${c.jitterMs} ms, ${c.chunkDelayMs} ms between chunks, ${c.completionTokens} tokens`,
    ` faults              ${faults}`,
    ` auth required       ${c.requireAuth ? 'yes' : 'no'}${c.echo ? ', echo mode' : ''}`,
    ` control             GET ${sim.url}/_sim/stats  POST /_sim/config  POST /_sim/reset  GET /health`,
    rule,
  ].join('\n');
}
