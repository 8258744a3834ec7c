import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReplyMessage } from '@aigw/core';
import { WorkerHarness } from './support';

type Of<T extends ReplyMessage['t']> = Extract<ReplyMessage, { t: T }>;

/** What Anthropic answers every call of an account whose prepaid credits ran out. */
const CREDIT_TOO_LOW =
  '{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}';

/** What Anthropic answers every call of a workspace or organization past the monthly spend limit its admin set. */
const SPEND_LIMIT_REACHED =
  '{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."},"request_id":"req_011CZLrUfBVkVHn5T6EqQaf7"}';

/** Anthropic's documented `billing_error` type (its own HTTP status is 402; the type decides, whatever the status). */
const BILLING_ERROR =
  '{"type":"error","error":{"type":"billing_error","message":"There is an issue with the billing or payment information of this organization."}}';

/** Each refusal of the account, with the HTTP status it comes with (five failures open the deployment's circuit). */
const REFUSALS: [string, number, string][] = [
  ['credit balance too low (400)', 400, CREDIT_TOO_LOW],
  ['credit balance too low (429)', 429, CREDIT_TOO_LOW],
  ['monthly spend limit reached (400)', 400, SPEND_LIMIT_REACHED],
  ['monthly spend limit reached (429)', 429, SPEND_LIMIT_REACHED],
  ['billing_error (429)', 429, BILLING_ERROR],
];

/**
 * Anthropic refuses the calls of an account out of credit with a 400 `invalid_request_error`. Read as the request's
 * fault, it was answered to the client as its own 400 at once: no other deployment of the model was tried, and the
 * broke deployment's circuit never opened, so every request routed to it first failed so until someone paid.
 */
describe('router-worker: a provider account out of credit (in-process, real Redis, loopback provider)', () => {
  let broke: Server;
  let brokeUrl = '';
  let calls = 0;
  let refusal: [number, string] = [400, CREDIT_TOO_LOW];
  const h = new WorkerHarness({
    env: { RETRY_MAX: '0', ROUTING_DEFAULT_POLICY: 'cost' },
    catalog: (simUrl) => `providers:
  - id: broke
    kind: anthropic
    baseUrl: ${brokeUrl}
    apiKey: sk-ant-broke-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.001, completionPer1k: 0.001, contextWindow: 8192 }
  - id: funded
    kind: openai
    baseUrl: ${simUrl}/v1
    apiKey: sk-funded-secret
    timeoutMs: 5000
    models:
      - { name: shared, promptPer1k: 0.002, completionPer1k: 0.002, contextWindow: 8192 }
`,
  });

  beforeAll(async () => {
    broke = createServer((req, res) => {
      calls++;
      req.resume();
      req.on('end', () => {
        res.writeHead(refusal[0], { 'content-type': 'application/json' });
        res.end(refusal[1]);
      });
    });
    await new Promise<void>((resolve) => broke.listen(0, '127.0.0.1', resolve));
    brokeUrl = `http://127.0.0.1:${(broke.address() as AddressInfo).port}`;
    await h.start();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await new Promise((resolve) => broke.close(resolve));
  }, 30_000);

  it.each(REFUSALS)(
    'falls back to the next deployment on %s, naming the refusal an auth failure of the provider',
    async (_name, status, body) => {
      refusal = [status, body];
      calls = 0;
      const job = await h.enqueue({ model: 'shared' });
      const replies = await h.finalReplies(job.id!);
      expect(replies.at(-1)).toMatchObject({ t: 'result' });
      const { result } = replies.at(-1) as Of<'result'>;
      expect(result.provider).toBe('funded');
      expect(result.attempts).toEqual([
        expect.objectContaining({ provider: 'broke', ok: false, errorClass: 'auth', status }),
        expect.objectContaining({ provider: 'funded', ok: true }),
      ]);
      expect(calls).toBe(1);
    },
  );

  it('sets the refused deployment aside after those failures: the next request goes to the funded one without calling it', async () => {
    calls = 0;
    const job = await h.enqueue({ model: 'shared' });
    const { result } = (await h.finalReplies(job.id!)).at(-1) as Of<'result'>;
    expect(result.attempts).toEqual([expect.objectContaining({ provider: 'funded', ok: true })]);
    expect(calls).toBe(0);
  });
});
