import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConnectionTestResult } from '@aigw/core';
import { TestSystem } from './harness';

/** Key A, the one being replaced, and key B, its replacement (README "Rotating SECRETS_KEY"). */
const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const FORM_KEY = 'sk-form-key-mid-rotation-0123456789';

/**
 * A connection test of a form's key in the middle of a SECRETS_KEY rotation: the api-gateway already runs with
 * `SECRETS_KEY=B SECRETS_KEY_PREVIOUS=A`, the health-monitor still with A alone (step 1 of the rollout). The key the
 * gateway seals under B is resent under A, and the test runs. The catalog holds no key, so every process boots.
 */
describe('connection test mid-rotation of SECRETS_KEY', () => {
  let system: TestSystem;
  let keyed: Server;
  let keyedUrl = '';
  const authorizations: (string | undefined)[] = [];

  beforeAll(async () => {
    keyed = createServer((req, res) => {
      authorizations.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[{"id":"m1"}]}');
    });
    await new Promise<void>((resolve) => keyed.listen(0, '127.0.0.1', resolve));
    keyedUrl = `http://127.0.0.1:${(keyed.address() as AddressInfo).port}/v1`;
    system = await new TestSystem({
      topology: 'split',
      appEnv: {
        'api-gateway': { SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A },
        'router-worker': { SECRETS_KEY: KEY_A },
        'health-monitor': { SECRETS_KEY: KEY_A },
      },
      catalog: (s) => `providers:
  - id: open
    kind: openai
    baseUrl: ${s.sim.url}/v1
    models:
      - { name: sim-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 }
`,
    }).start();
  });

  afterAll(async () => {
    await system?.stop();
    await new Promise<void>((resolve) => (keyed === undefined ? resolve() : keyed.close(() => resolve())));
  });

  it("a monitor still on the old key alone opens the form's key resent under it", async () => {
    const res = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/test`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ kind: 'openai', baseUrl: keyedUrl, apiKey: FORM_KEY }),
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as ConnectionTestResult).routes[0]).toMatchObject({ route: 'direct', ok: true });
    expect(authorizations).toEqual([`Bearer ${FORM_KEY}`]);
    expect(text).not.toContain(FORM_KEY);
    expect(system.apps.flatMap((a) => a.output).join('')).not.toContain(FORM_KEY);
  });
});
