import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chat, routingSystem } from './support';

/**
 * A provider that refuses every request as the client's (400/422) in its own wire format, naming the field it
 * refuses: TGI in the backticks of its validation message (its wire has no field for it), an OpenAI-compatible
 * server (vLLM, LiteLLM, Ollama's /v1) in `error.param`.
 */
class Refuser {
  private server: Server | null = null;
  url = '';
  /** Requests answered so far. */
  calls = 0;

  constructor(
    private readonly status: number,
    private readonly body: unknown,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.calls++;
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(this.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

function provider(id: string, kind: string, baseUrl: string, model: string): string[] {
  return [
    `  - id: ${id}`,
    `    kind: ${kind}`,
    `    baseUrl: ${baseUrl}`,
    '    apiKey: sk-refusal-param-secret',
    '    timeoutMs: 5000',
    '    models:',
    `      - { name: ${model}, promptPer1k: 0, completionPer1k: 0, contextWindow: 8192, capabilities: [chat, streaming] }`,
  ];
}

/**
 * Before, the client's 400 had `param: null` whatever the provider named: it could not tell which of its fields to
 * fix without parsing the provider's message.
 */
describe("a provider's refusal naming the field: the 400's param (e2e)", () => {
  const tgi = new Refuser(422, {
    error: 'Input validation error: `max_new_tokens` must be strictly positive',
    error_type: 'validation',
  });
  const tgiOwn = new Refuser(422, {
    error: 'Input validation error: `decoder_input_details` == true is not supported when streaming tokens',
    error_type: 'validation',
  });
  const vllm = new Refuser(400, {
    object: 'error',
    error: { message: 'logit_bias is not supported', type: 'BadRequestError', param: 'logit_bias', code: 400 },
  });
  const system = routingSystem({
    simulators: 0,
    workers: 1,
    env: { RETRY_MAX: '0' },
    catalog: async () => {
      await Promise.all([tgi.start(), tgiOwn.start(), vllm.start()]);
      return `${[
        'providers:',
        ...provider('ptgi', 'tgi', tgi.url, 'tgi-m'),
        ...provider('ptgiown', 'tgi', tgiOwn.url, 'tgi-own'),
        ...provider('pvllm', 'openai', `${vllm.url}/v1`, 'vllm-m'),
      ].join('\n')}\n`;
    },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await Promise.all([tgi.stop(), tgiOwn.stop(), vllm.stop()]);
  }, 30_000);

  it.each([
    ['TGI (its parameter, in the client field it comes from)', 'tgi-m', 'max_tokens'],
    ['an OpenAI-compatible server (error.param)', 'vllm-m', 'logit_bias'],
    ['TGI, about a parameter the gateway sets: no client field', 'tgi-own', null],
  ])('%s', async (_, model, param) => {
    const res = await chat(system, { model });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param });
  });
});

/** An OpenAI-compatible server answering every chat completion with a JSON object. */
class JsonAnswerer extends Refuser {
  constructor() {
    super(200, {
      id: 'chatcmpl-json',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'json-m',
      choices: [{ index: 0, message: { role: 'assistant', content: '{"ok":true}' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    });
  }
}

/**
 * TGI 3 refuses the grammar JSON mode without a schema is sent as (validation.rs: "Grammar must have a 'properties'
 * field"). Before, that was the client's 400 at once, with no other deployment of the model tried and no field named.
 */
describe("TGI's refusal of JSON mode's grammar: another deployment, or a 400 naming response_format (e2e)", () => {
  const refusal = {
    error: "Input validation error: grammar is not valid: Grammar must have a 'properties' field",
    error_type: 'validation',
  };
  const tgiOnly = new Refuser(422, refusal);
  const tgiFirst = new Refuser(422, refusal);
  const other = new JsonAnswerer();
  const json = (id: string, kind: string, baseUrl: string, model: string, price: number): string[] => [
    `  - id: ${id}`,
    `    kind: ${kind}`,
    `    baseUrl: ${baseUrl}`,
    '    apiKey: sk-refusal-param-secret',
    '    timeoutMs: 5000',
    '    models:',
    `      - { name: ${model}, promptPer1k: ${price}, completionPer1k: ${price}, contextWindow: 8192, capabilities: [chat, streaming, json] }`,
  ];
  const system = routingSystem({
    simulators: 0,
    workers: 1,
    env: { RETRY_MAX: '0' },
    catalog: async () => {
      await Promise.all([tgiOnly.start(), tgiFirst.start(), other.start()]);
      return `${[
        'providers:',
        ...json('ptgionly', 'tgi', tgiOnly.url, 'tgi-json', 0),
        ...json('ptgifirst', 'tgi', tgiFirst.url, 'json-m', 0),
        ...json('pother', 'openai', `${other.url}/v1`, 'json-m', 0.01),
      ].join('\n')}\n`;
    },
  });

  beforeAll(async () => {
    await system.start();
  }, 90_000);

  afterAll(async () => {
    await system.stop();
    await Promise.all([tgiOnly.stop(), tgiFirst.stop(), other.stop()]);
  }, 30_000);

  it('answers from the deployment that takes JSON mode', async () => {
    const res = await chat(system, { model: 'json-m', response_format: { type: 'json_object' } });
    expect(res.status).toBe(200);
    expect(res.body.choices?.[0]?.message?.content).toBe('{"ok":true}');
    expect(tgiFirst.calls).toBeGreaterThan(0);
  });

  it('answers a 400 naming response_format when no deployment takes it', async () => {
    const res = await chat(system, { model: 'tgi-json', response_format: { type: 'json_object' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param: 'response_format' });
  });
});
