import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { freePort } from '@aigw/testing';
import type OpenAI from 'openai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chat, GatewayHarness } from './support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The OpenAI SDK's ES modules, served to the page as they are (the SDK has no dependencies). */
const OPENAI_DIR = path.dirname(require.resolve('openai'));

/** A page origin: an empty page, and the OpenAI SDK under `/openai/`. */
function pageServer(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/openai/')) {
      const file = path.join(OPENAI_DIR, path.normalize(url.pathname.slice('/openai/'.length)));
      if (file.startsWith(OPENAI_DIR) && existsSync(file)) {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
        return;
      }
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>');
  });
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
}

/**
 * A real browser on another origin calls the gateway: the preflights, the answers, errors and streams are what
 * Chromium itself allows a page to read. A page on an origin not listed is refused by the browser.
 */
describe('api-gateway: CORS from a real browser', () => {
  const env: Record<string, string> = {};
  const h = new GatewayHarness(env);
  const allowedSite = pageServer();
  const otherSite = pageServer();
  let browser: Browser;
  let page: Page;
  let stranger: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
    }
    const [allowedPort, otherPort] = [await freePort(), await freePort()];
    env.CORS_ORIGINS = `http://127.0.0.1:${allowedPort}`;
    [browser] = await Promise.all([
      chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-background-networking', '--headless'],
      }),
      h.start(),
      listen(allowedSite, allowedPort),
      listen(otherSite, otherPort),
    ]);
    const context = await browser.newContext();
    page = await context.newPage();
    await page.goto(`http://127.0.0.1:${allowedPort}/`);
    // The SDK as a page loads it: ES modules from its own origin.
    await page.addScriptTag({
      type: 'module',
      content: "import OpenAI from '/openai/index.mjs'; window.OpenAI = OpenAI;",
    });
    await page.waitForFunction(() => 'OpenAI' in globalThis);
    stranger = await context.newPage();
    await stranger.goto(`http://127.0.0.1:${otherPort}/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    allowedSite.close();
    otherSite.close();
    await h.stop();
  }, 30_000);

  it('runs the OpenAI SDK (dangerouslyAllowBrowser) against the gateway: an answer and a stream', async () => {
    const got = await page.evaluate(
      async ({ gateway, key }) => {
        const { OpenAI: Client } = globalThis as unknown as { OpenAI: typeof OpenAI };
        const client = new Client({
          baseURL: `${gateway}/v1`,
          apiKey: key,
          dangerouslyAllowBrowser: true,
          maxRetries: 0,
        });
        const { data, response } = await client.chat.completions
          .create({ model: 'sim-gpt', messages: [{ role: 'user', content: 'hello from a page' }] })
          .withResponse();
        const stream = await client.chat.completions.create({
          model: 'sim-gpt',
          messages: [{ role: 'user', content: 'streamed to a page' }],
          stream: true,
        });
        let streamed = '';
        for await (const chunk of stream) {
          streamed += chunk.choices[0]?.delta.content ?? '';
        }
        return {
          text: data.choices[0].message.content,
          requestId: response.headers.get('x-request-id'),
          provider: response.headers.get('x-gateway-provider'),
          streamed,
        };
      },
      { gateway: h.url, key: h.adminKey },
    );
    expect(got).toEqual({
      text: 'hello from a page',
      requestId: expect.stringMatching(/^req_/) as unknown,
      provider: 'sim',
      streamed: 'streamed to a page',
    });
  });

  it("lets the page read an error envelope and its headers (a wrong key; Anthropic's headers)", async () => {
    const got = await page.evaluate(
      async ({ gateway, body }) => {
        const res = await fetch(`${gateway}/v1/messages`, {
          method: 'POST',
          headers: {
            'x-api-key': 'sk-aigw-not-a-key-0123456789',
            'anthropic-version': '2023-06-01',
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        return { status: res.status, requestId: res.headers.get('request-id'), body: await res.json() };
      },
      { gateway: h.url, body: { ...chat('hi'), max_tokens: 8 } },
    );
    expect(got).toMatchObject({
      status: 401,
      requestId: expect.stringMatching(/^req_/) as unknown,
      body: { type: 'error', error: { type: 'authentication_error' } },
    });
  });

  it('is refused by the browser on an origin not listed', async () => {
    const got = await stranger.evaluate(
      async ({ gateway, key }) => {
        try {
          await fetch(`${gateway}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
          return 'read';
        } catch (err) {
          return String(err);
        }
      },
      { gateway: h.url, key: h.adminKey },
    );
    expect(got).toBe('TypeError: Failed to fetch');
  });
});
