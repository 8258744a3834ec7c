import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { GatewayHarness } from '../support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** A host name other than localhost or 127.0.0.1, as an operator's gateway has: Chromium resolves it to loopback. */
const HOST = 'gateway.docs.test';

/**
 * The Swagger UI at /docs in headless Chromium, opened by a host name as on a real deployment: it talks to its own
 * origin only (offline; no third party told the gateway's address) and no other site may frame it.
 */
describe('API docs page in a browser', () => {
  const h = new GatewayHarness();
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
    }
    [browser] = await Promise.all([
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-background-networking',
          '--headless',
          // Every other host resolves to nothing: a request to one fails, and is recorded all the same.
          `--host-resolver-rules=MAP ${HOST} 127.0.0.1, MAP * ~NOTFOUND`,
        ],
      }),
      h.start(),
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await h.stop();
  }, 30_000);

  it('renders from its own origin only: no online validator badge sending the document URL to validator.swagger.io', async () => {
    const origin = `http://${HOST}:${new URL(h.url).port}`;
    const page = await browser.newPage();
    const elsewhere: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) {
        elsewhere.push(r.url());
      }
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      // A blocked script or style (the page's CSP) logs "Refused to ..."; the browser's own /favicon.ico is a 404.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        problems.push(m.text());
      }
    });
    await page.goto(`${origin}/docs`);
    await page.locator('.swagger-ui .info .title').waitFor();
    await page.locator('.opblock-tag').first().waitFor();
    // The badge's image is asked for once the spec loaded: a moment for it.
    await new Promise((r) => setTimeout(r, 500));
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('may not be framed by another site, nor its script sniffed as another type', async () => {
    for (const path of ['/docs', '/docs/init.js']) {
      const res = await h.get(path, {});
      await res.arrayBuffer();
      expect({ path, nosniff: res.headers.get('x-content-type-options') }).toEqual({ path, nosniff: 'nosniff' });
      expect({ path, frame: res.headers.get('x-frame-options') }).toEqual({ path, frame: 'DENY' });
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });
});
