import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../e2e/harness';
import { callsTo, catalogYaml, chat, chatStream, counterSum, metricsOf, routingSystem } from './support';

const THRESHOLD = 3;

/**
 * An OpenAI-compatible server that refuses every request in band: a 200 whose body (or first stream event) is an
 * error object carrying the HTTP status the server meant. vLLM streams `{"object":"error",...,"code":400}`, llama.cpp
 * an `error:` line, LiteLLM and OpenRouter `{"error":{...,"code":400}}`: a request the server cannot take.
 */
class InBandRefuser {
  calls = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.calls++;
        const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
        const error = {
          object: 'error',
          message: "'response_format' of type 'json_schema' is not supported by this model",
          type: 'BadRequestError',
          param: null,
          code: 400,
        };
        if (stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(`data: ${JSON.stringify(error)}\n\ndata: [DONE]\n\n`);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: error.message, type: 'invalid_request_error', code: '400' } }));
        }
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/**
 * A request the provider refuses as the client's fault, said in band (HTTP 200) rather than with a 400 status: the
 * same refusal as a 400 answer. It must not count against the deployment's circuit, nor be retried or fallen back
 * from (it would fail on every deployment), as an `invalid_request_error` event of Anthropic's stream is not.
 */
describe('in-band client errors (e2e)', () => {
  const refuser = new InBandRefuser();
  const system = routingSystem({
    simulators: 1,
    env: {
      ROUTING_DEFAULT_POLICY: 'cost',
      RETRY_MAX: '2',
      RETRY_BASE_MS: '10',
      RETRY_MIN_CALL_MS: '100',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_MIN_VOLUME: '1000',
    },
    catalog: async (s) => {
      await refuser.start();
      return catalogYaml([
        // Cheaper: the cost policy tries it first.
        { id: 'pv', baseUrl: `${refuser.url}/v1`, models: [{ name: 'shared', promptPer1k: 0.001 }] },
        { id: 'pb', baseUrl: `${s.sims[0].url}/v1`, models: [{ name: 'shared', promptPer1k: 0.002 }] },
      ]);
    },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await refuser.stop();
  }, 30_000);

  async function circuitOf(deployment: string): Promise<Record<string, string>> {
    const redis = new Redis(REDIS_URL);
    try {
      return await redis.hgetall(`${system.prefix}:routing:cb:{${deployment}}`);
    } finally {
      await redis.quit();
    }
  }

  it('answers 400 at once, calls the provider once, and leaves its circuit untouched', async () => {
    const streamed = [];
    for (let i = 0; i < THRESHOLD; i++) {
      streamed.push(await chatStream(system, { model: 'shared' }));
    }
    const plain = await chat(system, { model: 'shared' });

    expect(streamed.map((s) => s.status)).toEqual(streamed.map(() => 400));
    expect(streamed.every((s) => s.raw.includes('invalid_request'))).toBe(true);
    expect(plain.status).toBe(400);
    expect(plain.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request' });
    // One call per request: no retry of a refusal that would come again, no fallback to B.
    expect(refuser.calls).toBe(THRESHOLD + 1);
    expect(callsTo(system.sims[0])).toBe(0);
    // Nothing counted against the deployment: no consecutive failure, no failure in the window, never opened.
    const circuit = await circuitOf('pv/shared');
    expect(Number(circuit.cf ?? 0)).toBe(0);
    expect(circuit.st ?? 'closed').toBe('closed');
    const failures = Object.entries(circuit)
      .filter(([field]) => /^f\d+$/.test(field))
      .reduce((sum, [, n]) => sum + Number(n), 0);
    expect(failures).toBe(0);
    const texts = await Promise.all(system.workers().map((w) => metricsOf(w)));
    const opened = texts.reduce(
      (sum, t) => sum + counterSum(t, 'aigw_circuit_transitions_total', { deployment: 'pv/shared', to: 'open' }),
      0,
    );
    expect(opened).toBe(0);
  }, 60_000);
});

/**
 * A TGI server (native `/generate_stream`) refusing a prompt over its window as TGI does: the validation runs inside
 * the stream it opened, so the answer is a 200 whose one event is `{"error", "error_type": "validation"}`.
 */
class TgiValidationRefuser {
  calls = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.calls++;
        const error = {
          error:
            'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. Given: 8100 `inputs` tokens and 200 `max_new_tokens`',
          error_type: 'validation',
        };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data:${JSON.stringify(error)}\n\n`);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe("TGI's in-stream validation errors (e2e)", () => {
  const tgi = new TgiValidationRefuser();
  const system = routingSystem({
    simulators: 1,
    env: {
      RETRY_MAX: '2',
      RETRY_BASE_MS: '10',
      RETRY_MIN_CALL_MS: '100',
      CB_FAILURE_THRESHOLD: String(THRESHOLD),
      CB_MIN_VOLUME: '1000',
    },
    catalog: async () => {
      await tgi.start();
      return catalogYaml([{ id: 'tg', kind: 'tgi', baseUrl: tgi.url, models: [{ name: 'shared', promptPer1k: 0 }] }]);
    },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await tgi.stop();
  }, 30_000);

  it('answers a prompt over the window as context_length_exceeded, calling TGI once, its circuit untouched', async () => {
    const streamed = [];
    for (let i = 0; i < THRESHOLD + 1; i++) {
      streamed.push(await chatStream(system, { model: 'shared' }));
    }
    expect(streamed.map((s) => s.status)).toEqual(streamed.map(() => 400));
    expect(streamed.every((s) => s.raw.includes('context_length_exceeded'))).toBe(true);
    // Not retried (the same prompt fails the same way), and no failure counted: the breaker never opened on it.
    expect(tgi.calls).toBe(THRESHOLD + 1);
    const redis = new Redis(REDIS_URL);
    try {
      const circuit = await redis.hgetall(`${system.prefix}:routing:cb:{tg/shared}`);
      expect(Number(circuit.cf ?? 0)).toBe(0);
      expect(circuit.st ?? 'closed').toBe('closed');
    } finally {
      await redis.quit();
    }
  }, 60_000);
});
