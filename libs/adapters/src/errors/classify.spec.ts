import { countsAgainstProvider, ErrorClass, isFatalClass, isRetryableClass, ProviderCallError } from '@aigw/core';
import { classifyError, classifyHttpFailure, classifyInBandError } from './classify';

const NOW = Date.parse('2026-01-01T00:00:00Z');

function http(status: number, body: string, headers: Record<string, string> = {}): ProviderCallError {
  return classifyHttpFailure(status, headers, body, 'sk-test-secret-key-123456', NOW);
}

describe('classifyHttpFailure', () => {
  it.each([
    [
      'an OpenAI envelope',
      400,
      '{"error":{"message":"bad","type":"invalid_request_error","param":"temperature"}}',
      'temperature',
    ],
    [
      'vLLM',
      400,
      '{"object":"error","error":{"message":"no","type":"BadRequestError","param":"logit_bias","code":400}}',
      'logit_bias',
    ],
    [
      'TGI, by its client field',
      422,
      '{"error":"Input validation error: `max_new_tokens` must be strictly positive","error_type":"validation"}',
      'max_tokens',
    ],
    [
      'TGI',
      422,
      '{"error":"Input validation error: `top_p` must be > 0.0 and < 1.0","error_type":"validation"}',
      'top_p',
    ],
    [
      'TGI, a parameter the gateway sets',
      422,
      '{"error":"Input validation error: `decoder_input_details` == true is not supported when streaming tokens","error_type":"validation"}',
      undefined,
    ],
    [
      'TGI, a word that names an Object.prototype member',
      422,
      '{"error":"Input validation error: `constructor` is not valid","error_type":"validation"}',
      undefined,
    ],
    [
      'TGI, not a validation error',
      422,
      '{"error":"`temperature` must be strictly positive","error_type":"generation"}',
      undefined,
    ],
    ['a body naming none', 400, '{"error":{"message":"bad","type":"invalid_request_error","param":null}}', undefined],
    // LiteLLM's proxy writes Python's None as text in its envelope: no field is named.
    [
      'LiteLLM',
      400,
      '{"error":{"message":"litellm.BadRequestError: OpenAIException - Invalid value for temperature","type":"None","param":"None","code":"400"}}',
      undefined,
    ],
  ])("names the field of %s's refusal as its param", (_, status, body, param) => {
    const err = http(status, body);
    expect(err.errorClass).toBe(ErrorClass.InvalidRequest);
    expect(err.param).toBe(param);
  });

  it("names no param for a refusal that is not the request's (an account, a context length)", () => {
    expect(
      http(400, '{"error":{"message":"API key not valid","status":"INVALID_ARGUMENT","param":"key"}}').param,
    ).toBeUndefined();
    expect(
      http(
        400,
        '{"error":{"message":"maximum context length is 10","code":"context_length_exceeded","param":"messages"}}',
      ).param,
    ).toBeUndefined();
  });

  it.each([
    [
      400,
      '{"error":{"message":"Invalid value for \'temperature\'","type":"invalid_request_error","param":"temperature","code":null}}',
      ErrorClass.InvalidRequest,
    ],
    [
      400,
      '{"error":{"message":"This model\'s maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}',
      ErrorClass.ContextLength,
    ],
    [
      400,
      '{"object":"error","message":"This model\'s maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","code":400}',
      ErrorClass.ContextLength,
    ],
    [
      400,
      '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}',
      ErrorClass.ContextLength,
    ],
    // Anthropic, when the prompt fits but the prompt and max_tokens together do not: a larger window may take it.
    [
      400,
      '{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or `max_tokens` and try again"}}',
      ErrorClass.ContextLength,
    ],
    [422, '{"detail":[{"loc":["body","messages"],"msg":"field required"}]}', ErrorClass.InvalidRequest],
    // Gemini, llama.cpp and TGI say "context too long" each their own way.
    [
      400,
      '{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}',
      ErrorClass.ContextLength,
    ],
    [
      400,
      '{"error":{"code":400,"type":"exceed_context_size_error","message":"request (9412 tokens) exceeds the available context size (8192 tokens), try increasing it","n_prompt_tokens":9412,"n_ctx":8192}}',
      ErrorClass.ContextLength,
    ],
    [
      422,
      '{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`","error_type":"validation"}',
      ErrorClass.ContextLength,
    ],
    [
      422,
      '{"error":"Input validation error: `inputs` must have less than 4000 tokens. Given: 4100","error_type":"validation"}',
      ErrorClass.ContextLength,
    ],
    [
      422,
      '{"error":"Input validation error: `temperature` must be strictly positive","error_type":"validation"}',
      ErrorClass.InvalidRequest,
    ],
    // Google answers account problems with 400: a bad key, an unsupported region. Another deployment may answer.
    [
      400,
      '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}',
      ErrorClass.Auth,
    ],
    [
      400,
      '{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}',
      ErrorClass.Auth,
    ],
    [
      400,
      '{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}',
      ErrorClass.InvalidRequest,
    ],
    // TGI: generation failed on the server (CUDA out of memory, a shard).
    [
      424,
      '{"error":"Request failed during generation: Server error: CUDA out of memory","error_type":"generation"}',
      ErrorClass.Provider,
    ],
    [
      413,
      '{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}',
      ErrorClass.ContextLength,
    ],
    [
      401,
      '{"error":{"message":"Invalid token","type":"invalid_request_error","code":"invalid_api_key"}}',
      ErrorClass.Auth,
    ],
    [
      403,
      '{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission"}}',
      ErrorClass.Auth,
    ],
    // Anthropic answers an account out of credit with a 400 invalid_request_error: the account's, as a 402 is.
    [
      400,
      '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}',
      ErrorClass.Auth,
    ],
    // ... and a workspace past its monthly spend limit alike; `billing_error` is the account's at any status.
    [
      400,
      '{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."}}',
      ErrorClass.Auth,
    ],
    [429, '{"type":"error","error":{"type":"billing_error","message":"Billing issue."}}', ErrorClass.Auth],
    [402, '{"error":"You have exceeded your monthly included credits for Inference Providers."}', ErrorClass.Auth],
    // A model the provider does not serve: the deployment's configuration, not the request's and not a transient fault.
    [
      404,
      '{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","code":"model_not_found"}}',
      ErrorClass.NotFound,
    ],
    // A request over the account's tokens-per-minute limit by itself: no wait lets it through (OpenAI answers 429,
    // Groq 413), and it says nothing of the deployment's health: too long for this deployment, as a context window.
    [
      429,
      '{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 342389. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
      ErrorClass.ContextLength,
    ],
    [
      413,
      '{"error":{"message":"Request too large for model `llama-3.3-70b-versatile` in organization `org_01` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 14810, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}',
      ErrorClass.ContextLength,
    ],
    [
      429,
      '{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}',
      ErrorClass.RateLimit,
    ],
    [408, 'Request Timeout', ErrorClass.Timeout],
    // A transient clash on the provider's side (the SDKs retry it): retried and fallen back from, never the client's.
    [409, '{"error":{"message":"conflict"}}', ErrorClass.Provider],
    [409, '{"error":{"code":409,"message":"Aborted, please retry.","status":"ABORTED"}}', ErrorClass.Provider],
    [
      498,
      '{"error":{"message":"Flex tier capacity exceeded. Please try again later.","type":"capacity_exceeded"}}',
      ErrorClass.Provider,
    ],
    [500, '{"error":{"message":"The server had an error while processing your request."}}', ErrorClass.Provider],
    [502, '<html><body>Bad gateway</body></html>', ErrorClass.Provider],
    [529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', ErrorClass.Provider],
    [302, '', ErrorClass.Provider],
  ])('HTTP %i %s -> %s', (status, body, expected) => {
    const e = http(status, body);
    expect(e).toBeInstanceOf(ProviderCallError);
    expect(e.errorClass).toBe(expected);
    expect(e.status).toBe(status);
    expect(e.message.startsWith(`upstream HTTP ${status}: `)).toBe(true);
  });

  it('puts the provider message in the error', () => {
    const e = http(500, '{"error":{"message":"The server had an error while processing your request."}}');
    expect(e.message).toBe('upstream HTTP 500: The server had an error while processing your request.');
    expect(http(502, '').message).toBe('upstream HTTP 502: no error message');
  });

  it('reads Retry-After on 429 in every form', () => {
    const body = '{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}';
    expect(http(429, body, { 'retry-after-ms': '1500', 'retry-after': '9' }).retryAfterMs).toBe(1500);
    expect(http(429, body, { 'retry-after': '2' }).retryAfterMs).toBe(2000);
    expect(http(429, body, { 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }).retryAfterMs).toBe(5000);
    expect(http(429, body).retryAfterMs).toBeUndefined();
    expect(http(429, body).errorClass).toBe(ErrorClass.RateLimit);
  });

  it("reads Gemini's RetryInfo retryDelay from a 429 body when no Retry-After header came", () => {
    const gemini = (retryDelay: string): string =>
      JSON.stringify({
        error: {
          code: 429,
          message: 'You exceeded your current quota',
          status: 'RESOURCE_EXHAUSTED',
          details: [
            { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'PerMinute' }] },
            { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
          ],
        },
      });
    expect(http(429, gemini('37s'))).toMatchObject({ errorClass: ErrorClass.RateLimit, retryAfterMs: 37_000 });
    expect(http(429, gemini('0.250s')).retryAfterMs).toBe(250);
    // The header, when sent, wins; an unreadable delay is no delay.
    expect(http(429, gemini('37s'), { 'retry-after': '2' }).retryAfterMs).toBe(2000);
    expect(http(429, gemini('soon')).retryAfterMs).toBeUndefined();
    // Google's array-wrapped form (`[{"error": {...}}]`), read by the same parse as the message.
    expect(http(429, `[${gemini('12s')}]`).retryAfterMs).toBe(12_000);
  });

  it('reads Retry-After and retry-after-ms on every 5xx, as the SDKs do on every status they retry', () => {
    expect(http(503, 'busy', { 'retry-after': '3' }).retryAfterMs).toBe(3000);
    expect(http(529, 'busy', { 'retry-after': '1' }).retryAfterMs).toBe(1000);
    expect(http(500, 'oops', { 'retry-after': '3' }).retryAfterMs).toBe(3000);
    expect(http(502, 'oops', { 'retry-after-ms': '250' }).retryAfterMs).toBe(250);
    expect(http(504, 'oops', { 'retry-after': new Date(NOW + 10_000).toUTCString() }).retryAfterMs).toBe(10_000);
    expect(http(500, 'oops').retryAfterMs).toBeUndefined();
  });

  it('carries x-should-retry, whatever the status', () => {
    expect(http(503, 'busy', { 'x-should-retry': 'false' }).shouldRetry).toBe(false);
    expect(http(400, '{"error":{"message":"bad"}}', { 'x-should-retry': 'true' })).toMatchObject({
      errorClass: ErrorClass.InvalidRequest,
      shouldRetry: true,
    });
    expect(http(429, 'slow down', { 'x-should-retry': 'TRUE' }).shouldRetry).toBe(true);
    expect(http(500, 'oops', { 'x-should-retry': 'maybe' }).shouldRetry).toBeUndefined();
    expect(http(500, 'oops').shouldRetry).toBeUndefined();
  });

  describe('a 429 without Retry-After', () => {
    const openAi = (remaining: string, reset: string, kind = 'tokens'): Record<string, string> => ({
      [`x-ratelimit-remaining-${kind}`]: remaining,
      [`x-ratelimit-reset-${kind}`]: reset,
    });

    it('waits for the reset of the OpenAI window that is spent', () => {
      expect(http(429, 'limited', openAi('0', '6m0s')).retryAfterMs).toBe(360_000);
      expect(http(429, 'limited', openAi('0', '20ms', 'requests')).retryAfterMs).toBe(20);
      // Both spent: the call needs both back.
      expect(http(429, 'limited', { ...openAi('0', '1s', 'requests'), ...openAi('0', '1m0s') }).retryAfterMs).toBe(
        60_000,
      );
      // Only the spent one counts.
      expect(http(429, 'limited', { ...openAi('0', '1s', 'requests'), ...openAi('500', '1m0s') }).retryAfterMs).toBe(
        1000,
      );
    });

    it('names no wait when no window says it is spent', () => {
      expect(http(429, 'limited', openAi('9000', '60ms')).retryAfterMs).toBeUndefined();
      expect(http(429, 'limited', openAi('0', 'soon')).retryAfterMs).toBeUndefined();
    });

    it("waits for the reset (RFC 3339) of Anthropic's spent window, input and output tokens included", () => {
      const at = (s: number): string => new Date(NOW + s * 1000).toISOString();
      const anthropic = (kind: string, remaining: string, reset: string): Record<string, string> => ({
        [`anthropic-ratelimit-${kind}-remaining`]: remaining,
        [`anthropic-ratelimit-${kind}-reset`]: reset,
      });
      expect(http(429, 'limited', anthropic('requests', '0', at(12))).retryAfterMs).toBe(12_000);
      expect(
        http(429, 'limited', { ...anthropic('input-tokens', '0', at(30)), ...anthropic('requests', '40', at(1)) })
          .retryAfterMs,
      ).toBe(30_000);
      expect(http(429, 'limited', anthropic('output-tokens', '0', at(-5))).retryAfterMs).toBe(0);
    });

    it("prefers the wait OpenAI's message names, then Retry-After over everything", () => {
      const body =
        '{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 1.898s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}';
      expect(http(429, body, openAi('0', '1m0s')).retryAfterMs).toBe(1898);
      expect(http(429, body.replace('1.898s', '6m0s')).retryAfterMs).toBe(360_000);
      expect(http(429, body, { ...openAi('0', '1m0s'), 'retry-after': '2' }).retryAfterMs).toBe(2000);
    });
  });

  it('treats an exhausted account as an auth problem, not a rate limit to wait out', () => {
    const body =
      '{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}';
    expect(http(429, body, { 'retry-after': '1' }).errorClass).toBe(ErrorClass.Auth);
  });

  it('never carries the API key or key-like strings, and truncates long messages', () => {
    const echoed = http(401, '{"error":{"message":"Incorrect API key provided: sk-test-secret-key-123456."}}');
    expect(echoed.message).not.toContain('sk-test-secret-key-123456');
    const masked = http(
      401,
      '{"error":{"message":"Incorrect API key provided: sk-proj-abc*********************wxyz."}}',
    );
    expect(masked.message).not.toMatch(/sk-proj/);
    expect(http(400, 'auth header was Bearer abc.def.ghi').message).not.toContain('abc.def.ghi');
    // A key of no known format, echoed URL-encoded or masked by a proxy (LiteLLM), is still caught.
    const odd = 'proxy+key/ABC=123xyz';
    const proxied = classifyHttpFailure(
      400,
      {},
      `{"error":{"message":"raw=${encodeURIComponent(odd)} Received API Key = proxy+...123xyz, Key Hash = x"}}`,
      odd,
      NOW,
    );
    expect(proxied.message).toBe('upstream HTTP 400: raw=[redacted] Received API Key = [redacted], Key Hash = x');
    // Credentials in a URL an upstream error quotes (a proxy's or a crashed server's own database URL).
    const crashed = http(500, 'Traceback: connect to postgres://admin:hunter2@db.internal:5432/app failed');
    expect(crashed.message).not.toContain('hunter2');
    expect(crashed.message).not.toContain('admin:');
    expect(crashed.message).toContain('postgres://[redacted]@db.internal:5432/app');
    const long = http(500, 'x'.repeat(5000));
    expect(long.message.length).toBeLessThanOrEqual('upstream HTTP 500: '.length + 300);
  });

  it('does not read back a body that is no error message: a metadata service answering a provider URL stays unseen', () => {
    // What AWS's instance metadata answers at .../security-credentials/<role>: an admin could point a provider there.
    const credentials = JSON.stringify(
      {
        Code: 'Success',
        Type: 'AWS-HMAC',
        AccessKeyId: 'ASIAIOSFODNN7EXAMPLE',
        SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        Token: 'IQoJb3JpZ2luX2VjEJr',
      },
      null,
      2,
    );
    for (const status of [400, 404, 500]) {
      const e = http(status, credentials);
      expect(e.message).toBe(
        `upstream HTTP ${status}: a ${credentials.length}-character JSON body without an error message (not shown)`,
      );
    }
    expect(http(404, JSON.stringify(JSON.parse(credentials))).message).not.toContain('ASIA');
    // A listing (instance metadata's directory), a web page: text of many lines, described only.
    expect(http(404, 'ami-id\nhostname\niam/\nlocal-ipv4').message).toBe(
      'upstream HTTP 404: a 31-character text body without an error message (not shown)',
    );
    expect(http(502, `<html>\n<title>502</title>${'x'.repeat(400)}</html>`).message).not.toContain('<title>');
    // One short plain line is how many servers say what went wrong: still shown.
    expect(http(404, '404 page not found\n').message).toBe('upstream HTTP 404: 404 page not found');
    expect(http(503, 'Service Unavailable').message).toBe('upstream HTTP 503: Service Unavailable');
  });

  it('classifies on what the provider said even when its body is no standard envelope or is only described', () => {
    const fastApi =
      '{"detail":[{"type":"value_error","loc":["body"],"msg":"This model\'s maximum context length is 4096 tokens"}]}';
    const e1 = http(400, fastApi);
    expect(e1.errorClass).toBe(ErrorClass.ContextLength);
    expect(e1.message).toBe("upstream HTTP 400: This model's maximum context length is 4096 tokens");
    const mistral =
      '{"object":"error","message":{"detail":[{"type":"value_error","msg":"Prompt contains 5000 tokens, too large for model with 4096 maximum context length"}]},"type":"invalid_request_error"}';
    expect(http(400, mistral).errorClass).toBe(ErrorClass.ContextLength);
    expect(http(400, mistral).message).toContain('too large for model');
    // A traceback or page too long (or of many lines) to show: described, yet still what decides the class.
    const traceback = `Traceback (most recent call last):\n${'  File "server.py", line 1\n'.repeat(10)}ValueError: This model's maximum context length is 4096 tokens`;
    const e3 = http(400, traceback);
    expect(e3.errorClass).toBe(ErrorClass.ContextLength);
    expect(e3.message).toContain('(not shown)');
    expect(http(422, traceback).errorClass).toBe(ErrorClass.ContextLength);
    // Google's array-wrapped error: a bad key is the operator's (Auth, another deployment may answer).
    const googleArray =
      '[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]';
    const e4 = http(400, googleArray);
    expect(e4.errorClass).toBe(ErrorClass.Auth);
    expect(e4.message).toBe('upstream HTTP 400: API key not valid. Please pass a valid API key.');
    const reasonOnly =
      '[{"error":{"code":400,"message":"Bad request","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}]';
    expect(http(400, reasonOnly).errorClass).toBe(ErrorClass.Auth);
    expect(http(400, '[{"error":{"message":"Invalid value","status":"INVALID_ARGUMENT"}}]').errorClass).toBe(
      ErrorClass.InvalidRequest,
    );
  });

  it('does not echo an `error` object that carries no message (credentials under "error")', () => {
    const body =
      '{"error":{"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}';
    for (const status of [400, 404, 500]) {
      const e = http(status, body);
      expect(e.message).toBe(
        `upstream HTTP ${status}: a ${body.length}-character JSON body without an error message (not shown)`,
      );
    }
    // An error object that names only its code still says something.
    expect(http(400, '{"error":{"code":"context_length_exceeded"}}').errorClass).toBe(ErrorClass.ContextLength);
  });
});

function sysError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyError', () => {
  it.each([
    ['ECONNREFUSED', ErrorClass.Network],
    ['ECONNRESET', ErrorClass.Network],
    ['EPIPE', ErrorClass.Network],
    ['ENOTFOUND', ErrorClass.Network],
    ['EAI_AGAIN', ErrorClass.Network],
    ['UND_ERR_SOCKET', ErrorClass.Network],
    ['UND_ERR_CLOSED', ErrorClass.Network],
    ['HPE_INVALID_CONSTANT', ErrorClass.Network],
    ['UND_ERR_CONNECT_TIMEOUT', ErrorClass.Timeout],
    ['UND_ERR_HEADERS_TIMEOUT', ErrorClass.Timeout],
    ['UND_ERR_BODY_TIMEOUT', ErrorClass.Timeout],
    ['ETIMEDOUT', ErrorClass.Timeout],
    ['UND_ERR_ABORTED', ErrorClass.Cancelled],
  ])('%s -> %s', (code, expected) => {
    const e = classifyError(sysError(code));
    expect(e.errorClass).toBe(expected);
    expect(e.message).toContain(code);
    expect(e.cause).toBeInstanceOf(Error);
  });

  it("never names the provider's host or address: the message reaches every client in the attempts", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:8000'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      address: '10.0.0.5',
      port: 8000,
    });
    const refused6 = Object.assign(new Error('connect ECONNREFUSED fd00::5:8000'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
      address: 'fd00::5',
      port: 8000,
    });
    const unknown = Object.assign(new Error('getaddrinfo ENOTFOUND vllm.internal.corp'), {
      code: 'ENOTFOUND',
      syscall: 'getaddrinfo',
      hostname: 'vllm.internal.corp',
    });
    const connectTimeout = Object.assign(
      new Error('Connect Timeout Error (attempted address: vllm.internal.corp:8000, timeout: 10000ms)'),
      { code: 'UND_ERR_CONNECT_TIMEOUT' },
    );
    const altname = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: Host: vllm.internal.corp. is not in the cert's altnames: DNS:other.corp",
      ),
      { code: 'ERR_TLS_CERT_ALTNAME_INVALID', host: 'vllm.internal.corp' },
    );
    const expected: [Error, string][] = [
      [refused, 'upstream network error (ECONNREFUSED): connect ECONNREFUSED'],
      [refused6, 'upstream network error (ECONNREFUSED): connect ECONNREFUSED'],
      [new TypeError('fetch failed', { cause: unknown }), 'upstream network error (ENOTFOUND): getaddrinfo ENOTFOUND'],
      [connectTimeout, 'upstream timed out (UND_ERR_CONNECT_TIMEOUT): Connect Timeout Error (timeout: 10000ms)'],
      [
        altname,
        "upstream network error (ERR_TLS_CERT_ALTNAME_INVALID): the provider's TLS certificate does not name its host",
      ],
    ];
    for (const [err, message] of expected) {
      const e = classifyError(err);
      expect(e.message).toBe(message);
      expect(e.message).not.toMatch(/10\.0\.0\.5|fd00|vllm|internal\.corp|8000/);
      expect(e.cause).toBe(err);
    }
  });

  it('finds the code in a cause chain and in an AggregateError', () => {
    const wrapped = new TypeError('fetch failed', { cause: sysError('ECONNRESET') });
    expect(classifyError(wrapped).errorClass).toBe(ErrorClass.Network);
    const grouped = new AggregateError([sysError('ECONNREFUSED'), sysError('ECONNREFUSED')], 'connect failed');
    expect(classifyError(grouped).errorClass).toBe(ErrorClass.Network);
  });

  it('classifies a DOMException timeout as Timeout and a bare AbortError as Cancelled', () => {
    expect(classifyError(new DOMException('timed out', 'TimeoutError')).errorClass).toBe(ErrorClass.Timeout);
    expect(classifyError(new DOMException('aborted', 'AbortError')).errorClass).toBe(ErrorClass.Cancelled);
  });

  it('says Cancelled for anything once the caller has aborted', () => {
    const ac = new AbortController();
    ac.abort();
    expect(classifyError(sysError('ECONNRESET'), ac.signal).errorClass).toBe(ErrorClass.Cancelled);
  });

  it('passes a ProviderCallError through unchanged', () => {
    const e = new ProviderCallError(ErrorClass.RateLimit, 'slow down', { retryAfterMs: 10 });
    const ac = new AbortController();
    ac.abort();
    expect(classifyError(e, ac.signal)).toBe(e);
  });

  it('calls an unknown failure a provider error and keeps the cause', () => {
    const err = new Error('weird');
    const e = classifyError(err);
    expect(e.errorClass).toBe(ErrorClass.Provider);
    expect(e.cause).toBe(err);
    expect(classifyError('just a string').errorClass).toBe(ErrorClass.Provider);
  });
});

describe('a model the provider does not have (404)', () => {
  // Each provider's own answer: not retried (it will not appear), not held against the deployment's circuit, not the
  // client's fault either (another deployment of the model may serve it).
  it.each([
    ['Ollama /api/chat', '{"error":"model \\"llama9\\" not found, try pulling it first"}'],
    [
      "Ollama's OpenAI-compatible /v1",
      '{"error":{"message":"model \\"llama9\\" not found, try pulling it first","type":"api_error","param":null,"code":null}}',
    ],
    [
      'Gemini',
      '{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}',
    ],
    [
      'OpenAI',
      '{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}',
    ],
    [
      'vLLM',
      '{"object":"error","message":"The model `llama9` does not exist.","type":"NotFoundError","param":null,"code":404}',
    ],
    ['Anthropic', '{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}'],
    ['a base URL without its /v1', '404 page not found\n'],
  ])('%s', (_who, body) => {
    const e = http(404, body);
    expect(e.errorClass).toBe(ErrorClass.NotFound);
    expect(e.status).toBe(404);
    expect(isRetryableClass(e.errorClass)).toBe(false);
    expect(countsAgainstProvider(e.errorClass)).toBe(false);
    expect(isFatalClass(e.errorClass)).toBe(false);
  });

  // LiteLLM's proxy answers a model its model_list lacks with a 400 (ProxyModelNotFoundError), its message a Python
  // dict's text in older releases and a dict in others; `type` and `param` the string "None".
  it.each([
    `{"error":{"message":"400: {'error': '/chat/completions: Invalid model name passed in model=glm-9. Call \`/v1/models\` to view available models for your key.'}","type":"None","param":"None","code":"400"}}`,
    '{"error":{"message":{"error":"/chat/completions: Invalid model name passed in model=glm-9. Call `/v1/models` to view available models for your key."},"type":"None","param":"None","code":"400"}}',
  ])("LiteLLM's 400 for a model it does not route (%#) is not found, not the client's invalid request", (body) => {
    const e = http(400, body);
    expect(e.errorClass).toBe(ErrorClass.NotFound);
    expect(e.status).toBe(400);
    expect(e.message).toContain('Invalid model name passed in model=glm-9');
  });

  it("a 400 with OpenAI's model_not_found code (a compatible server's status for it) is not found too", () => {
    const body =
      '{"error":{"message":"The model `glm-9` does not exist","type":"invalid_request_error","code":"model_not_found"}}';
    expect(http(400, body).errorClass).toBe(ErrorClass.NotFound);
  });

  it('Gemini streaming it in band (code 404) is classified as the HTTP answer is', () => {
    const said = classifyInBandError({ code: 404, message: 'models/gemini-9 is not found', status: 'NOT_FOUND' });
    expect(said.errorClass).toBe(ErrorClass.NotFound);
  });
});
