import { numberList } from './cli.mjs';

// Streaming: time to the first SSE event and to the first content token, directly from the simulator,
// through our gateway and (with --peer) through the peer, one request at a time, alternating sides.
// Measured with 0 ms and 30 ms between the provider's chunks (--ttft-spacing): a relay that batches or waits for
// content shows up as a first event later than the provider's. Bounded by a request count and a time cap.
// --ttft-idle adds a table of the first event after each side sat idle for the given gaps: the 30 ms spacing's
// streams last ~1 s each, so every side there idles ~2 s between its own requests, and a host whose idle cores
// come back slowly charges that to every process a request passes through.

const DEFAULT_REQUESTS = 100;
const TIME_CAP_MS = 60_000;
const CHUNK_DELAYS_MS = [0, 30];
/** Streams per side and idle gap in the --ttft-idle table. */
const IDLE_REQUESTS = 15;

const BODY = JSON.stringify({
  model: 'sim-gpt',
  stream: true,
  messages: [{ role: 'user', content: 'Say hello' }],
});

/** ms to the first `data:` event, to the first event with delta content, and to the end of the body. */
async function timed(target, signal) {
  const t0 = performance.now();
  const res = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: target.auth, ...(target.headers ?? {}) },
    body: BODY,
    signal,
  });
  if (res.status !== 200 || res.body === null) {
    throw new Error(`${target.url}: HTTP ${res.status} ${await res.text()}`);
  }
  const decoder = new TextDecoder();
  let buf = '';
  let firstEvent = null;
  let firstContent = null;
  for await (const bytes of res.body) {
    if (firstContent !== null) {
      continue;
    }
    buf += decoder.decode(bytes, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('data:')) {
        continue;
      }
      firstEvent ??= performance.now() - t0;
      const data = line.slice(5).trim();
      if (firstContent === null && data !== '[DONE]') {
        try {
          const content = JSON.parse(data).choices?.[0]?.delta?.content;
          if (typeof content === 'string' && content.length > 0) {
            firstContent = performance.now() - t0;
          }
        } catch {
          // not JSON: not a content event
        }
      }
    }
  }
  const last = performance.now() - t0;
  if (firstEvent === null || firstContent === null) {
    throw new Error(`${target.url}: the stream carried no content event`);
  }
  return { firstEvent, firstContent, last };
}

const pct = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const med = (samples, key) =>
  pct(
    samples.map((s) => s[key]).sort((a, b) => a - b),
    0.5,
  );
const p90 = (samples, key) =>
  pct(
    samples.map((s) => s[key]).sort((a, b) => a - b),
    0.9,
  );

async function setChunkDelay(sys, ms) {
  const res = await fetch(`${sys.simBase}/_sim/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ chunkDelayMs: ms }),
  });
  if (!res.ok) {
    throw new Error(`simulator refused chunkDelayMs=${ms}: HTTP ${res.status}`);
  }
  await res.arrayBuffer();
}

export const streamTtftBench = {
  id: 'stream-ttft',
  title: 'Streaming: time to first event and first content token',
  flags: [
    {
      name: '--ttft-requests',
      value: 'N',
      help: `streamed requests per side and chunk spacing for the TTFT bench (default ${DEFAULT_REQUESTS})`,
    },
    {
      name: '--ttft-spacing',
      value: 'LIST',
      help: `ms between the provider's chunks, one table row group each (default "${CHUNK_DELAYS_MS.join(' ')}")`,
    },
    {
      name: '--ttft-idle',
      value: 'LIST',
      help: `also: first event after each side idled this many ms, ${IDLE_REQUESTS} streams per side and gap, 0 ms spacing`,
    },
  ],
  enabled: (opts) => !opts.standIn,
  async run(ctx) {
    const { sys, opts, signal, log } = ctx;
    const total = Number(opts.extra?.['--ttft-requests'] ?? DEFAULT_REQUESTS);
    const spacings = numberList('--ttft-spacing', opts.extra?.['--ttft-spacing'] ?? CHUNK_DELAYS_MS.join(' '));
    const gaps = opts.extra?.['--ttft-idle'] ? numberList('--ttft-idle', opts.extra['--ttft-idle']) : [];
    const sides = [
      ['direct', { url: `${sys.simBase}/v1/chat/completions`, auth: sys.direct.auth }],
      ['ours', { url: `${sys.gatewayBase}/v1/chat/completions`, auth: `Bearer ${sys.adminKey}` }],
    ];
    if (sys.peer) {
      sides.push(['peer', sys.peer.target]);
    }
    const rows = [];
    const idleRows = [];
    try {
      for (const delay of spacings) {
        await setChunkDelay(sys, delay);
        for (let i = 0; i < 10; i++) {
          for (const [, target] of sides) {
            await timed(target, signal);
          }
        }
        const samples = Object.fromEntries(sides.map(([name]) => [name, []]));
        const started = performance.now();
        for (let i = 0; i < total && !signal.aborted && performance.now() - started < TIME_CAP_MS; i++) {
          for (const [name, target] of sides) {
            samples[name].push(await timed(target, signal));
          }
        }
        log(`stream-ttft: chunk spacing ${delay} ms, ${samples.direct.length} requests per side`);
        for (const [name] of sides) {
          const s = samples[name];
          const added = (key) =>
            name === 'direct' ? '' : ` (+${(med(s, key) - med(samples.direct, key)).toFixed(2)})`;
          rows.push(
            `| ${delay} | ${name === 'peer' ? sys.peer.label : name} | ${s.length} | ` +
              `${med(s, 'firstEvent').toFixed(2)}${added('firstEvent')} | ${p90(s, 'firstEvent').toFixed(2)} | ` +
              `${med(s, 'firstContent').toFixed(2)}${added('firstContent')} | ${p90(s, 'firstContent').toFixed(2)} | ` +
              `${med(s, 'last').toFixed(2)}${added('last')} |`,
          );
        }
      }
      await setChunkDelay(sys, 0);
      for (const gap of gaps) {
        const samples = Object.fromEntries(sides.map(([name]) => [name, []]));
        for (let i = 0; i < IDLE_REQUESTS && !signal.aborted; i++) {
          for (const [name, target] of sides) {
            await new Promise((resolve) => setTimeout(resolve, gap));
            samples[name].push(await timed(target, signal));
          }
        }
        log(`stream-ttft: first event after ${gap} ms idle`);
        idleRows.push(`| ${gap} | ${sides.map(([name]) => med(samples[name], 'firstEvent').toFixed(2)).join(' | ')} |`);
      }
    } finally {
      await setChunkDelay(sys, 0);
    }
    const idleTable =
      idleRows.length === 0
        ? []
        : [
            '',
            `First event (p50 ms, ${IDLE_REQUESTS} streams per side and gap, 0 ms between chunks) after the sides sat idle`,
            'for at least the given gap before each stream (each side waits out the gap before its own request):',
            '',
            `| idle ms | ${sides.map(([name]) => (name === 'peer' ? sys.peer.label : name)).join(' | ')} |`,
            `|---:|${sides.map(() => '---:').join('|')}|`,
            ...idleRows,
          ];
    return [
      'Streamed `/v1/chat/completions` requests, one at a time, alternating the sides; simulator latency 0 ms,',
      '32 content chunks with the given spacing. Milliseconds from sending the request; in brackets, what the side',
      'adds to the direct median.',
      '',
      '| chunk spacing ms | side | n | first event p50 | first event p90 | first content p50 | first content p90 | last byte p50 |',
      '|---:|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
      ...idleTable,
    ].join('\n');
  },
};
