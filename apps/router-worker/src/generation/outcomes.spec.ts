import {
  countTextTokens,
  EMPTY_USAGE,
  ErrorClass,
  estimatePromptTokens,
  estimateRequestTokens,
  merged,
  PDF_TOKENS_PER_PAGE,
  ProviderCallError,
  type ChatMessage,
} from '@aigw/core';
import { failedAttempt, resultOf, spentOf, successAttempt, targetOf, usageOf } from './outcomes';
import { deployment, generationRequest } from './request.fixtures';

describe('targetOf', () => {
  it("sends the upstream name when the model has one, pools per provider, and carries the model's window", () => {
    const d = deployment(
      { id: 'zai', maxConnections: 16 },
      { name: 'glm', upstreamName: 'zai/glm-4.6', contextWindow: 8192 },
    );
    expect(targetOf(d)).toEqual({
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKey: 'sk-test-secret',
      model: 'zai/glm-4.6',
      timeoutMs: 5000,
      poolKey: 'zai',
      maxConnections: 16,
      // Ollama's num_ctx: the window routing sized the request by.
      contextWindow: 8192,
    });
    expect(targetOf(deployment()).model).toBe('sim-gpt');
    expect(targetOf(deployment())).not.toHaveProperty('healthPath');
  });

  it("carries the provider's healthPath (llama.cpp, vLLM /health) for health checks", () => {
    expect(targetOf(deployment({ id: 'llamacpp', healthPath: '/health' })).healthPath).toBe('/health');
  });
});

describe('attempts', () => {
  it('records a success and a classified failure with its status, route and retries', () => {
    const d = deployment();
    expect(successAttempt(d, 'gateway', 12.34, 2)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'gateway',
      ok: true,
      latencyMs: 12.3,
      retries: 2,
    });
    const err = new ProviderCallError(ErrorClass.Provider, 'upstream said 500', { status: 500 });
    expect(failedAttempt(d, 'direct', err, 5, 0)).toEqual({
      provider: 'sim',
      model: 'sim-gpt',
      route: 'direct',
      ok: false,
      errorClass: 'provider',
      status: 500,
      message: 'upstream said 500',
      latencyMs: 5,
      retries: 0,
    });
  });
});

describe('resultOf', () => {
  it('prices the answer, names the deployment and measures from receipt', () => {
    const request = generationRequest({ receivedAt: 1000 });
    const d = deployment({}, { promptPer1k: 1, completionPer1k: 2, cachedPromptPer1k: 0.5 });
    const attempts = [successAttempt(d, 'gateway', 40, 0)];
    const usage = { promptTokens: 100, completionTokens: 50, totalTokens: 150, cachedPromptTokens: 20 };
    const result = resultOf(
      request,
      {
        deployment: d,
        route: 'gateway',
        answer: { id: 'chatcmpl-1', created: 7, text: 'hi', finishReason: 'stop', usage },
        attempts,
        providerLatencyMs: 40.04,
      },
      1250,
      999,
    );
    expect(result).toEqual({
      requestId: 'req_1',
      id: 'chatcmpl-1',
      created: 7,
      text: 'hi',
      finishReason: 'stop',
      provider: 'sim',
      model: 'sim-gpt',
      route: 'gateway',
      usage,
      // (80 * 1 + 20 * 0.5 + 50 * 2) / 1000
      costUsd: 0.19,
      latencyMs: 250,
      providerLatencyMs: 40,
      attempts,
    });
  });
});

describe('resultOf with a cost the provider reported', () => {
  const usage = { promptTokens: 100, completionTokens: 50, totalTokens: 150, cachedPromptTokens: 0 };
  const routed = (baseUrl: string, route: 'direct' | 'gateway', reportedCostUsd?: number) => {
    const d = deployment({ id: 'or', baseUrl }, { promptPer1k: 1, completionPer1k: 2 });
    return {
      deployment: d,
      route,
      answer: {
        id: 'gen-1',
        created: 7,
        text: 'hi',
        finishReason: 'stop',
        usage: reportedCostUsd === undefined ? usage : { ...usage, reportedCostUsd },
      },
      attempts: [successAttempt(d, route, 40, 0)],
      providerLatencyMs: 40,
    };
  };
  const cost = (r: ReturnType<typeof routed>) => resultOf(generationRequest(), r, 1, 1).costUsd;

  it("bills what OpenRouter charged (usage.cost) rather than the catalog's price", () => {
    expect(cost(routed('https://openrouter.ai/api/v1', 'direct', 0.0001234567891))).toBe(0.000123457);
    // The result's usage holds the counts only: the cost is its costUsd.
    expect(resultOf(generationRequest(), routed('https://openrouter.ai/api/v1', 'direct', 0.5), 1, 1).usage).toEqual(
      usage,
    );
    expect(cost(routed('https://openrouter.ai/api/v1', 'direct', 0))).toBe(0);
  });

  it('prices by the catalog when OpenRouter said nothing, for other servers, and through a gateway', () => {
    // (100 * 1 + 50 * 2) / 1000
    expect(cost(routed('https://openrouter.ai/api/v1', 'direct'))).toBe(0.2);
    expect(cost(routed('http://127.0.0.1:4000/v1', 'direct', 5))).toBe(0.2);
    expect(cost(routed('https://openrouter.ai/api/v1', 'gateway', 5))).toBe(0.2);
  });
});

describe('usageOf', () => {
  const answer = (usage: typeof EMPTY_USAGE, text = 'The weather in Paris is mild today.') => ({
    id: 'c',
    created: 1,
    text,
    finishReason: 'stop',
    usage,
  });

  it("keeps the provider's counts, the very object, when it reported both", () => {
    const usage = { promptTokens: 12, completionTokens: 3, totalTokens: 15, cachedPromptTokens: 4 };
    expect(usageOf(answer(usage), 999)).toBe(usage);
  });

  it('estimates what a provider left out: the prompt from the routing estimate, the completion from the text', () => {
    const none = usageOf(answer(EMPTY_USAGE), 42);
    expect(none).toEqual({
      promptTokens: 42,
      completionTokens: countTextTokens('The weather in Paris is mild today.'),
      totalTokens: 42 + countTextTokens('The weather in Paris is mild today.'),
      cachedPromptTokens: 0,
    });
    expect(none.completionTokens).toBeGreaterThan(0);
    // Only the missing count is estimated.
    const promptOnly = { promptTokens: 30, completionTokens: 0, totalTokens: 30, cachedPromptTokens: 50 };
    expect(usageOf(answer(promptOnly), 42)).toEqual({
      promptTokens: 30,
      completionTokens: none.completionTokens,
      totalTokens: 30 + none.completionTokens,
      cachedPromptTokens: 30,
    });
    // Tool calls are generated text too.
    const call = {
      id: 't',
      type: 'function' as const,
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    };
    const tools = merged(answer(EMPTY_USAGE, ''), { toolCalls: [call] });
    expect(usageOf(tools, 42).completionTokens).toBe(countTextTokens('get_weather{"city":"Paris"}'));
  });

  it('prices the estimate: an answer whose provider reported nothing is not free', () => {
    const request = generationRequest();
    const d = deployment({}, { promptPer1k: 1, completionPer1k: 2 });
    const routed = {
      deployment: d,
      route: 'direct' as const,
      answer: answer(EMPTY_USAGE),
      attempts: [successAttempt(d, 'direct', 1, 0)],
      providerLatencyMs: 1,
    };
    const result = resultOf(request, routed, Date.now(), 100);
    expect(result.usage.promptTokens).toBe(100);
    expect(result.costUsd).toBeGreaterThan(0.1);
  });
});

describe('spentOf', () => {
  it("bills a cut stream's prompt by the routing estimate, tool definitions included, when the provider said none", () => {
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      },
    ];
    const request = generationRequest({ options: { tools } });
    const partial = { id: 'c', created: 1, text: 'It is', finishReason: null, usage: EMPTY_USAGE };
    // The plan's estimate, as the attempt loop hands it over.
    const spent = spentOf(deployment(), partial, estimateRequestTokens(request.messages, request.options.tools));
    expect(spent.usage.promptTokens).toBe(estimateRequestTokens(request.messages, tools));
    expect(spent.usage.promptTokens).toBeGreaterThan(estimateRequestTokens(request.messages, undefined));
  });

  it("prices a cut Anthropic stream's cache writes at the cache-write rate, as the whole answer would be", () => {
    // message_start's usage: 600 plain input tokens, 300 read from the cache, 100 written to it; output comes later.
    const usage = {
      promptTokens: 1000,
      completionTokens: 1,
      totalTokens: 1001,
      cachedPromptTokens: 300,
      cacheWritePromptTokens: 100,
    };
    const partial = { id: 'm', created: 1, text: 'It is', finishReason: null, usage };
    const d = deployment({}, { promptPer1k: 1, completionPer1k: 2, cachedPromptPer1k: 0.1, cacheWritePer1k: 1.25 });
    // An estimate apart from the count the provider reported, which wins.
    const spent = spentOf(d, partial, 50);
    expect(spent.usage).toMatchObject({ promptTokens: 1000, cachedPromptTokens: 300, cacheWritePromptTokens: 100 });
    const completion = spent.usage.completionTokens;
    expect(spent.costUsd).toBeCloseTo((600 * 1 + 300 * 0.1 + 100 * 1.25 + completion * 2) / 1000, 9);
  });
});

describe('the billed prompt of a request with file and audio parts, when the provider reported none', () => {
  // Ten pages by admission's estimate (a page per 32 KiB): what it reserved, and what the provider bills.
  const pdf = `data:application/pdf;base64,${Buffer.alloc(10 * 32 * 1024).toString('base64')}`;
  const messages: ChatMessage[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Summarize this.' },
        { type: 'file', file: { filename: 'a.pdf', file_data: pdf } },
      ],
    },
  ];
  const answer = { id: 'c', created: 1, text: 'A summary.', finishReason: 'stop', usage: EMPTY_USAGE };

  it('bills a whole answer as the routing estimate, which has the parts', () => {
    // What route-plan hands over as the plan's estimate: the same function, media included.
    const promptEstimate = estimateRequestTokens(messages, undefined);
    expect(promptEstimate).toBe(estimatePromptTokens(messages) + 10 * PDF_TOKENS_PER_PAGE);
    expect(usageOf(answer, promptEstimate).promptTokens).toBe(promptEstimate);
    // A count the provider reported is kept: the parts are not added to it.
    const reported = { promptTokens: 7, completionTokens: 0, totalTokens: 7, cachedPromptTokens: 0 };
    expect(usageOf(merged(answer, { usage: reported }), promptEstimate).promptTokens).toBe(7);
  });

  it('adds them to the bill of a cut stream', () => {
    const partial = { id: 'c', created: 1, text: 'It is', finishReason: null, usage: EMPTY_USAGE };
    expect(spentOf(deployment(), partial, estimateRequestTokens(messages, undefined)).usage.promptTokens).toBe(
      estimatePromptTokens(messages) + 10 * PDF_TOKENS_PER_PAGE,
    );
  });
});

describe('usageOf with cache writes', () => {
  it('keeps the cache writes a provider reported when it estimates the count it left out', () => {
    const usage = {
      promptTokens: 1000,
      completionTokens: 0,
      totalTokens: 1000,
      cachedPromptTokens: 300,
      cacheWritePromptTokens: 100,
    };
    const answer = { id: 'm', created: 1, text: 'Done.', finishReason: 'stop', usage };
    expect(usageOf(answer, 42)).toMatchObject({
      promptTokens: 1000,
      cachedPromptTokens: 300,
      cacheWritePromptTokens: 100,
    });
  });
});
