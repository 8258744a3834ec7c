// Tool-calling streamed request: time to first token (the first SSE event carrying a tool-call fragment) and
// to last byte, sent directly to the simulator and through the gateway, alternating, one request at a time
// (latency, not throughput). Bounded by a request count and a wall-clock cap; loopback only.

const DEFAULT_REQUESTS = 200;
const TIME_CAP_MS = 60_000;

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' } },
        required: ['city'],
      },
    },
  },
];

const BODY = JSON.stringify({
  model: 'sim-gpt',
  stream: true,
  messages: [{ role: 'user', content: 'What is the weather in Oslo for the next days?' }],
  tools: TOOLS,
});

/** One streamed request: ms to the first tool-call fragment and to the end of the body. */
async function timed(url, auth, signal) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: BODY,
    signal,
  });
  if (res.status !== 200 || res.body === null) {
    throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  }
  const decoder = new TextDecoder();
  let first = null;
  let seen = '';
  for await (const bytes of res.body) {
    if (first === null) {
      // The marker may straddle two reads: keep a short tail of what came before.
      seen = seen.slice(-16) + decoder.decode(bytes, { stream: true });
      if (seen.includes('"tool_calls"')) {
        first = performance.now() - t0;
      }
    }
  }
  const last = performance.now() - t0;
  if (first === null) {
    throw new Error(`${url}: the stream carried no tool call`);
  }
  return { first, last };
}

function pct(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function row(label, samples, key) {
  const v = samples.map((s) => s[key]).sort((a, b) => a - b);
  return `| ${label} | ${v.length} | ${[0.5, 0.9, 0.99].map((q) => pct(v, q).toFixed(2)).join(' | ')} | ${v[v.length - 1].toFixed(2)} |`;
}

export const toolStreamBench = {
  id: 'tool-stream',
  title: 'Tool-calling streamed request: time to first token and to last byte',
  flags: [
    {
      name: '--tool-requests',
      value: 'N',
      help: `requests per side for the tool-stream bench (default ${DEFAULT_REQUESTS})`,
    },
  ],
  enabled: (opts) => !opts.standIn,
  async run(ctx) {
    const { sys, opts, signal, log } = ctx;
    const total = Number(opts.extra?.['--tool-requests'] ?? DEFAULT_REQUESTS);
    const direct = { url: `${sys.simBase}/v1/chat/completions`, auth: sys.direct.auth };
    const gateway = { url: `${sys.gatewayBase}/v1/chat/completions`, auth: `Bearer ${sys.adminKey}` };
    // Warm both paths (connections, JIT) before measuring.
    for (let i = 0; i < 20; i++) {
      await timed(direct.url, direct.auth, signal);
      await timed(gateway.url, gateway.auth, signal);
    }
    const samples = { direct: [], gateway: [] };
    const started = performance.now();
    for (let i = 0; i < total && !signal.aborted && performance.now() - started < TIME_CAP_MS; i++) {
      samples.direct.push(await timed(direct.url, direct.auth, signal));
      samples.gateway.push(await timed(gateway.url, gateway.auth, signal));
    }
    const n = samples.gateway.length;
    log(`tool-stream: ${n} requests per side in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const median = (list, key) =>
      pct(
        list.map((s) => s[key]).sort((a, b) => a - b),
        0.5,
      );
    const added = (key) => (median(samples.gateway, key) - median(samples.direct, key)).toFixed(2);
    return [
      `${n} streamed \`/v1/chat/completions\` requests with one function tool per side, sent one at a time and`,
      'alternating direct (simulator) and through the gateway (api-gateway → queue → router-worker → simulator),',
      'simulator latency 0. First token: the first SSE event carrying a `tool_calls` fragment; last byte: the end of',
      'the body (`data: [DONE]`). Milliseconds.',
      '',
      '| path, measure | n | p50 | p90 | p99 | max |',
      '|---|---:|---:|---:|---:|---:|',
      row('direct, first token', samples.direct, 'first'),
      row('gateway, first token', samples.gateway, 'first'),
      row('direct, last byte', samples.direct, 'last'),
      row('gateway, last byte', samples.gateway, 'last'),
      '',
      `The gateway adds ${added('first')} ms to the median time to first token and ${added('last')} ms to the median`,
      'time to last byte on this machine.',
    ].join('\n');
  },
};
