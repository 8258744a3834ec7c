#!/usr/bin/env node
// Request validation cost per body, in-process over dist/ (run `npm run build` first): the gateway's pipe
// (RequestValidationPipe: the fast path, the ValidationPipe for what it refuses) against the ValidationPipe
// alone with the same options (the path every body took before the fast path).
//
//   node scripts/bench/validation-micro.mjs [--rounds 7] [--ms 400]
//
// Prints µs per body (median of the rounds) for a small chat body, a chat body with tools, and a typical
// body of each other generation endpoint, plus an invalid one (which both take the usual path).
import { createRequire } from 'node:module';
import path from 'node:path';
import { root } from '../lib.mjs';

const require = createRequire(import.meta.url);
require('reflect-metadata');
const dist = (p) => require(path.join(root, 'dist/apps/api-gateway/src', p));
const { ValidationPipe } = require('@nestjs/common');
const { RequestValidationPipe, REQUEST_VALIDATION_OPTIONS, assertObjectBody } = dist('validation/validation-pipe.js');
const { ChatCompletionDto } = dist('openai/chat-completion.dto.js');
const { MessagesDto } = dist('anthropic/messages.dto.js');
const { EmbeddingsDto } = dist('embeddings/embeddings.dto.js');
const { GenerateDto } = dist('native/generate.dto.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 7);
const ROUND_MS = arg('ms', 400);

/** The pipe as it was: the body check, then Nest's ValidationPipe. */
class UsualPipe extends ValidationPipe {
  constructor() {
    super(REQUEST_VALIDATION_OPTIONS);
  }
  async transform(value, metadata) {
    assertObjectBody(value, metadata);
    return super.transform(value, metadata);
  }
}

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
      required: ['city'],
    },
  },
};
const CASES = [
  [
    'chat, small',
    ChatCompletionDto,
    { model: 'sim-gpt', messages: [{ role: 'user', content: 'Say hello in five words.' }] },
  ],
  [
    'chat, tools',
    ChatCompletionDto,
    {
      model: 'sim-gpt',
      messages: [
        { role: 'system', content: 'Use the tools.' },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      ],
      tools: [weather, { ...weather, function: { ...weather.function, name: 'get_forecast' } }],
      tool_choice: 'auto',
      temperature: 0.2,
      max_tokens: 256,
      stream: true,
      stream_options: { include_usage: true },
    },
  ],
  [
    'anthropic messages',
    MessagesDto,
    { model: 'sim-claude', max_tokens: 1024, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] },
  ],
  ['embeddings', EmbeddingsDto, { model: 'sim-embed', input: ['first text', 'second text'] }],
  ['native generate', GenerateDto, { prompt: 'Hello', options: { temperature: 0.3, maxTokens: 64 } }],
  [
    'chat, invalid (400)',
    ChatCompletionDto,
    { model: 'sim-gpt', messages: [{ role: 'user', content: 'x' }], temperature: 3 },
  ],
];

async function timeRound(pipe, metatype, body) {
  const metadata = { type: 'body', metatype, data: undefined };
  let n = 0;
  const end = performance.now() + ROUND_MS;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) {
      await pipe.transform(body, metadata).catch(() => undefined);
    }
    n += 100;
  }
  return ((performance.now() - start) * 1000) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pipes = { usual: new UsualPipe(), gateway: new RequestValidationPipe() };

console.log(`| body | ValidationPipe µs | gateway pipe µs | ratio |`);
console.log(`|---|---:|---:|---:|`);
for (const [name, metatype, body] of CASES) {
  const times = { usual: [], gateway: [] };
  await timeRound(pipes.usual, metatype, body); // warm-up
  await timeRound(pipes.gateway, metatype, body);
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of ['usual', 'gateway']) times[k].push(await timeRound(pipes[k], metatype, body));
  }
  const [u, g] = [median(times.usual), median(times.gateway)];
  console.log(`| ${name} | ${u.toFixed(1)} | ${g.toFixed(1)} | ${(u / g).toFixed(1)}× |`);
}
