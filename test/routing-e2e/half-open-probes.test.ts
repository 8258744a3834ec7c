import { uniqueId, waitFor } from '@aigw/testing';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import { callsTo, catalogYaml, chat, counterSum, metricsOf, routingSystem } from './support';

const THRESHOLD = 2;
const OPEN_MS = 1500;
/** The probe's streamed answer: long enough to be still streaming whatever the host's pace. */
const STREAM_CHUNKS = 60;
const CHUNK_DELAY_MS = 250;
/** Far below the provider's timeout, as CB_PROBE_TTL_MS's 120 s is below a slow local model's timeout of minutes. */
const PROBE_TTL_MS = 1000;
/** A's latency while a probe is in flight: well beyond PROBE_TTL_MS, well within its timeout. */
const SLOW_MS = 8000;

/**
 * A half-open circuit's probe that is a streamed answer. Once the provider has started answering (the first chunk
 * went to the client: the answer is committed to it), the provider has shown it answers: the circuit closes then,
 * not when the last chunk of a long answer arrives. With CB_HALF_OPEN_PROBES slots taken by streams, every other
 * request was refused (503 no_healthy_provider, or moved to a dearer deployment) for the whole length of the
 * stream, and a stream outliving CB_PROBE_TTL_MS let one more probe in.
 */
describe('half-open probes (e2e)', () => {
  const system = routingSystem({
    simulators: 1,
    env: {
      RETRY_MAX: '0',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_OPEN_MS: String(OPEN_MS),
      CB_HALF_OPEN_PROBES: '1',
      CB_MIN_VOLUME: '1000',
      CB_PROBE_TTL_MS: String(PROBE_TTL_MS),
    },
    catalog: (s) =>
      catalogYaml([
        {
          id: 'pa',
          baseUrl: `${s.sims[0].url}/v1`,
          models: [{ name: 'shared', promptPer1k: 0.001 }],
          timeoutMs: 30_000,
        },
      ]),
  });
  const sim = () => system.sims[0];

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(() => system.stop(), 30_000);

  async function transitions(from: string, to: string): Promise<number> {
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    return texts.reduce(
      (sum, t) => sum + counterSum(t, 'aigw_circuit_transitions_total', { deployment: 'pa/shared', from, to }),
      0,
    );
  }

  async function gauge(): Promise<number> {
    return counterSum(await metricsOf(system.workers()[0]), 'aigw_circuit_state', { deployment: 'pa/shared' });
  }

  /** Starts a streamed request; resolves once its first SSE data line arrived, with the rest of it to come. */
  async function startStream(): Promise<{ rest: Promise<string>; status: number }> {
    const res = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({
        model: 'pa/shared',
        stream: true,
        messages: [{ role: 'user', content: `probe ${uniqueId()}` }],
      }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let raw = '';
    while (!raw.includes('data: ')) {
      const { done, value } = await reader.read();
      if (done) {
        throw new Error(`the stream ended before its first event: ${raw}`);
      }
      raw += decoder.decode(value, { stream: true });
    }
    const rest = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return raw;
        }
        raw += decoder.decode(value, { stream: true });
      }
    })();
    return { rest, status: res.status };
  }

  /** Opens A's circuit with THRESHOLD failed calls and waits until it is due for a probe. */
  async function openAndDue(): Promise<void> {
    sim().configure({ failRate: 1, failStatus: [500], latencyMs: 0, chunkDelayMs: 0 });
    for (let i = 0; i < THRESHOLD; i++) {
      expect((await chat(system, { model: 'pa/shared' })).status).toBe(502);
    }
    expect(await gauge()).toBe(2);
    sim().configure({ failRate: 0 });
    await waitFor(async () => (await gauge()) === 1, { timeoutMs: OPEN_MS + 10_000, intervalMs: 50 });
  }

  it('closes the circuit when the probe starts answering, so other requests are served meanwhile', async () => {
    sim().configure({ failRate: 1, failStatus: [500] });
    for (let i = 0; i < THRESHOLD; i++) {
      expect((await chat(system, { model: 'pa/shared' })).status).toBe(502);
    }
    expect(await transitions('closed', 'open')).toBe(1);

    sim().configure({ failRate: 0, completionTokens: STREAM_CHUNKS, chunkDelayMs: CHUNK_DELAY_MS });
    // Open and due: the next request is the probe.
    await waitFor(async () => (await gauge()) === 1, { timeoutMs: OPEN_MS + 10_000, intervalMs: 50 });
    const probe = await startStream();
    expect(probe.status).toBe(200);

    const other = await chat(system, { model: 'pa/shared' });
    // Precondition: the other request was decided while the probe was still streaming.
    expect(sim().stats().inFlight).toBe(1);
    expect(other.body.error).toBeUndefined();
    expect(other.status).toBe(200);
    expect(other.headers.get('x-gateway-provider')).toBe('pa');
    expect(await transitions('open', 'half_open')).toBe(1);
    expect(await transitions('half_open', 'closed')).toBe(1);

    // The probe's answer itself goes on to its end, whole.
    const raw = await probe.rest;
    expect(raw).toContain('data: [DONE]');
    expect(await gauge()).toBe(0);
    expect(await transitions('closed', 'open')).toBe(1);
  }, 90_000);
  it("holds a probe's slot while its call may still run, past CB_PROBE_TTL_MS: no second probe is let in", async () => {
    await openAndDue();
    sim().reset();
    sim().configure({ latencyMs: SLOW_MS, completionTokens: 4 });
    const probe = chat(system, { model: 'pa/shared' });
    await waitFor(() => sim().stats().inFlight === 1, { timeoutMs: 5000, intervalMs: 20 });
    // By the Redis clock (the one the slots expire by), CB_PROBE_TTL_MS has passed since the probe took its slot.
    const redis = new Redis(REDIS_URL);
    try {
      const redisNow = async (): Promise<number> => {
        const [s, us] = await redis.time();
        return Number(s) * 1000 + Math.floor(Number(us) / 1000);
      };
      const seen = await redisNow();
      await waitFor(async () => (await redisNow()) > seen + PROBE_TTL_MS, { timeoutMs: 10_000, intervalMs: 50 });
    } finally {
      await redis.quit();
    }
    const other = await chat(system, { model: 'pa/shared' });
    expect(other.body.error).toMatchObject({ code: 'no_healthy_provider' });
    expect(other.status).toBe(503);
    // Precondition: refused while the probe was still waiting for its answer.
    expect(sim().stats().inFlight).toBe(1);
    const answered = await probe;
    expect(answered.status).toBe(200);
    // One probe reached A while half-open, as CB_HALF_OPEN_PROBES says.
    expect(callsTo(sim())).toBe(1);
    expect(await gauge()).toBe(0);
  }, 90_000);
});
