import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Download, type Locator, type Page } from 'playwright-core';
import { CuttableRelay, freePort, ProviderSimulator, waitFor } from '@aigw/testing';
import { MAX_RANGE_DAYS as ANALYTICS_MAX_DAYS } from '../../apps/api-gateway/src/analytics/analytics.service';
import { MAX_RANGE_DAYS as OWN_USAGE_MAX_DAYS } from '../../apps/api-gateway/src/usage/usage.service';
import { ROOT, TestSystem } from './harness';

/**
 * The web console in headless Chromium against the whole system on loopback (gateway, worker, monitor,
 * simulator). Screenshots of every screen go to .e2e-screens/ (gitignored) for a reviewer.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENS = path.join(ROOT, '.e2e-screens');

let closedPort = 0;
/** A LiteLLM stand-in that refuses a request without a key. */
const keyedProxy = new ProviderSimulator({ models: ['glm-4.6'], requireAuth: true }, { name: 'litellm' });
/**
 * A gateway key the operator keeps in the environment under a name the default ADMIN_KEY_VARIABLES does not list
 * (`*_TOKEN`): a gateway saved with its reference while the list named it (see the Gateway test) keeps it stored.
 */
const LITELLM_TOKEN = 'sk-litellm-token-from-the-environment-01';
const LITELLM_REF = '${CONSOLE_E2E_LITELLM_TOKEN}';
const system = new TestSystem({
  env: { CACHE_ENABLED: 'true', CONSOLE_E2E_LITELLM_TOKEN: LITELLM_TOKEN },
  catalog: (s) =>
    `${s.catalogYaml()}  - id: closed
    kind: openai
    baseUrl: http://127.0.0.1:${closedPort}/v1
    apiKey: sk-closed-secret
    timeoutMs: 2000
    models:
      - { name: closed-gpt, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, capabilities: [chat, streaming] }
      - { name: closed-nocache, promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192, cache: { enabled: false } }
`,
});
let browser: Browser;
let page: Page;
/** What the page must never do: talk to another origin (offline), fail a script, break the CSP. */
const problems: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
}

/** The sign-in form's key field (other screens have API key fields too). */
const signInKey = () => page.getByRole('form', { name: 'Sign in' }).getByLabel('API key');

/** A full load of a screen (a hash change alone would keep the previous screen's state). */
async function open(screen: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${system.gatewayUrl}/console/#/${screen}`);
  await page.locator('#screen-title').or(signInKey()).waitFor();
  if (await signInKey().isVisible()) {
    // Signed out (a test run alone): sign in as the admin, the app then shows the screen of the URL.
    await signInKey().fill(system.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#screen-title').waitFor();
  }
}

/** Until no loading state is left on the screen. */
async function settled(): Promise<void> {
  // A locator, not a string predicate: the console's CSP forbids eval, which Playwright uses to poll a string.
  await page.locator('.state.loading').first().waitFor({ state: 'detached' });
}

async function signIn(key: string): Promise<void> {
  await page.goto(`${system.gatewayUrl}/console/`);
  await signInKey().fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Screens' }).waitFor();
}

async function signOut(): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signInKey().waitFor();
}

/** Sends a prompt from the Playground and waits for the streamed answer and its cost. */
async function ask(prompt: string, model: string, policy = 'preference'): Promise<void> {
  await open('playground');
  await page.getByLabel('Model', { exact: true }).selectOption(model);
  await page.getByLabel('Routing policy').selectOption(policy);
  await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('.answer[data-done="true"]').waitFor();
  await page.locator('[data-stat="Cost"]').filter({ hasNotText: '…' }).waitFor();
}

const stat = (label: string) => page.locator(`[data-stat="${label}"]`);

/** Picks a user in a user picker (`picker`, its combobox) by typing their name and clicking it among the matches. */
async function pickUser(picker: Locator, name: string): Promise<void> {
  await picker.fill(name);
  await page.getByRole('listbox', { name: 'Names found' }).getByRole('option', { name, exact: true }).click();
  await expect(picker.inputValue()).resolves.toBe(name);
}

/** A user (made through the admin API) and a key of theirs. */
async function apiKeyFor(name: string, over: { role?: 'user' | 'admin'; expiresAt?: string } = {}): Promise<string> {
  const user = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/users`, {
    method: 'POST',
    headers: system.headers(),
    body: JSON.stringify({ name }),
  }).then((r) => r.json() as Promise<{ id: string }>);
  const created = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/keys`, {
    method: 'POST',
    headers: system.headers(),
    body: JSON.stringify({ userId: user.id, ...over }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { key: string }).key;
}

/** The visible prefix the gateway keeps of a key (keyPrefixOf). */
const prefixOf = (key: string) => key.slice(0, Math.min(16, Math.floor(key.length / 3)));

/** A page of its own whose timers the test moves on, and the API paths it requested, in order. */
interface ClockedTab {
  context: BrowserContext;
  tab: Page;
  calls: string[];
}

/** A new context whose clock is installed before the app loads, signed in as the admin on `screen`. */
async function clockedTab(screen: string): Promise<ClockedTab> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.clock.install();
  const tab = await context.newPage();
  tab.setDefaultTimeout(10_000);
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const calls: string[] = [];
  tab.on('request', (r) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/api/')) {
      calls.push(url.pathname);
    }
  });
  await tab.goto(`${system.gatewayUrl}/console/#/${screen}`);
  await tab.getByRole('form', { name: 'Sign in' }).getByLabel('API key').fill(system.adminKey);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  return { context, tab, calls };
}

/**
 * Moves the tab's clock on a second at a time until `done` (a fetch that just ended schedules the next one when
 * the page has handled its answer, a moment later in real time): how far it went, at most `limitMs`.
 */
async function advanceUntil(tab: Page, done: () => boolean, limitMs: number): Promise<number> {
  let ms = 0;
  while (!done() && ms < limitMs) {
    await tab.clock.runFor(1_000);
    ms += 1_000;
    await new Promise((r) => setTimeout(r, 50));
  }
  return ms;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  }
  mkdirSync(SCREENS, { recursive: true });
  closedPort = await freePort(); // freed again at once: nothing listens there
  // The browser starts while the system does.
  [browser] = await Promise.all([
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--headless'],
    }),
    system.start(),
    keyedProxy.start(),
  ]);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // Short waits: a screen either shows its data or its error within seconds.
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(system.gatewayUrl) && !url.startsWith('data:') && !url.startsWith('blob:')) {
      problems.push(`request to another origin: ${url}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A failed API call logs "Failed to load resource" (a 404 of a missing endpoint is a screen state, not a bug).
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${m.text()}`);
    }
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await system.stop();
  await keyedProxy.stop();
  process.stdout.write(`\nconsole screenshots: ${SCREENS}\n`);
});

afterEach(() => {
  expect(problems).toEqual([]);
});

describe('web console', () => {
  it('is served at /console: offline assets, SPA fallback, 404 envelope for a missing file', async () => {
    const root = await fetch(`${system.gatewayUrl}/console`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');

    const index = await fetch(`${system.gatewayUrl}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const a of assets) {
      const r = await fetch(`${system.gatewayUrl}${a}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toContain('immutable');
    }

    const deep = await fetch(`${system.gatewayUrl}/console/some/client/route`);
    expect(await deep.text()).toBe(html);
    const missing = await fetch(`${system.gatewayUrl}/console/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain('nope.js');
  });

  it("refuses a wrong key with the API's message; an admin sees every screen, a user only theirs", async () => {
    await page.goto(`${system.gatewayUrl}/console/`);
    await signInKey().fill('sk-aigw-not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Invalid API key.');
    await shot('00-sign-in-error');
    // A character no key has (fetch cannot even send it): the key's format, not an unreachable gateway.
    await signInKey().fill('sk-aigw-clé');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'invalid format' }).waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.not.toContain('cannot be reached');

    // A key pasted with its header's "Bearer " works.
    await signIn(`Bearer ${system.adminKey}`);
    const nav = page.getByRole('navigation', { name: 'Screens' }).getByRole('link');
    await expect(nav.allTextContents()).resolves.toEqual([
      'Models',
      'Settings',
      'Usage',
      'Playground',
      'Providers',
      'Gateway',
      'Keys and quotas',
      'Cache',
      'Configuration',
    ]);
    // The key survives a reload (session storage), and the nav works from the keyboard.
    // Each step waits for what it caused: the reloaded screen, then the new screen
    // (reading the heading straight after Enter raced the router's render).
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Models' }).waitFor();
    await page.getByRole('link', { name: 'Models' }).focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
  });

  it('a reload while the gateway cannot check the key keeps the key for a retry; only a refused key is forgotten', async () => {
    await open('usage');
    // The gateway fails the key check as it does while its Redis is down (an error that says nothing of the key).
    const envelope = (status: number, message: string, code: string) => ({
      status,
      contentType: 'application/json',
      body: JSON.stringify({ error: { message, type: 'api_error', code, param: null } }),
    });
    await page.route('**/api/v1/ai/usage', (r) => r.fulfill(envelope(500, 'Internal error.', 'internal_error')), {
      times: 1,
    });
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'Your key could not be checked: Internal error.' }).waitFor();
    await expect(signInKey().count()).resolves.toBe(0);
    await shot('00-restore-failed');
    // The gateway answers again: Retry signs back in with the kept key, on the screen of the URL.
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('heading', { level: 1, name: 'Usage' }).waitFor();

    // A key the gateway refuses (401) is forgotten: the sign-in says why, and a reload does not bring it back.
    await page.route(
      '**/api/v1/ai/usage',
      (r) => r.fulfill(envelope(401, 'This API key has been revoked.', 'invalid_api_key')),
      { times: 1 },
    );
    await page.reload();
    await signInKey().waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('This API key has been revoked.');
    await page.reload();
    await signInKey().waitFor();
    await signIn(system.adminKey);
  });

  it("a 401 page of a proxy in front of the gateway (not the gateway's envelope) keeps the key: no sign-out", async () => {
    await open('usage');
    await settled();
    // What a single sign-on in front of the gateway answers a fetch once its own session has expired.
    const proxy401 = {
      status: 401,
      contentType: 'text/html; charset=utf-8',
      body: '<!doctype html><title>Sign in</title>',
    };
    await page.route('**/api/v1/ai/usage?*', (r) => r.fulfill(proxy401), { times: 2 });
    await page.getByRole('button', { name: 'Last 30 days' }).click();
    await page.getByRole('alert').filter({ hasText: "401 Unauthorized: not the gateway's answer" }).first().waitFor();
    await expect(signInKey().count()).resolves.toBe(0);
    await expect(page.getByRole('navigation', { name: 'Screens' }).count()).resolves.toBe(1);
    // Past the proxy again, the screen loads with the same key.
    await page.getByRole('button', { name: 'Retry' }).first().click();
    await page.getByRole('region', { name: 'Your usage' }).waitFor();

    // On a reload the stored key is kept for a retry, as while the gateway cannot be reached.
    await page.route('**/api/v1/ai/usage', (r) => r.fulfill(proxy401), { times: 1 });
    await page.reload();
    await page
      .getByRole('alert')
      .filter({ hasText: "Your key could not be checked: 401 Unauthorized: not the gateway's" })
      .waitFor();
    await expect(signInKey().count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('heading', { level: 1, name: 'Usage' }).waitFor();
  });

  it('Models lists every deployment with its price and capabilities, filters and sorts', async () => {
    await open('models');
    const rows = page.locator('tr[data-model]');
    await rows.first().waitFor();
    const ids = await Promise.all((await rows.all()).map((r) => r.getAttribute('data-model')));
    expect(ids).toEqual(expect.arrayContaining(['sim0/sim-gpt', 'sim0-anthropic/sim-claude', 'closed/closed-gpt']));
    const claude = page.locator('tr[data-model="sim0-anthropic/sim-claude"]');
    await expect(claude.textContent()).resolves.toContain('$0.003 / $0.015');
    await page.getByLabel('Filter').fill('claude');
    await expect(rows.count()).resolves.toBe(1);
    await page.getByLabel('Filter').fill('');
    await page.getByLabel('Sort by').selectOption('price');
    await expect(rows.first().getAttribute('data-model')).resolves.not.toBe('sim0-anthropic/sim-claude');
    await shot('01-models');
  });

  // Before any generation: the cache has not been asked yet.
  it("Cache: before any lookup the hit rate says there is no data ('—'), not 0%", async () => {
    const r = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/cache/stats`, { headers: system.headers() });
    expect((await r.json()) as Record<string, unknown>).toMatchObject({ hits: 0, misses: 0 });
    await open('cache');
    await settled();
    await expect(stat('Hits').textContent()).resolves.toBe('0');
    await expect(stat('Hit rate').textContent()).resolves.toBe('—');
  });

  // First of the generation tests: workers cache a user's preferences for a few seconds after reading them.
  it('a model picked as default answers the next Playground prompt', async () => {
    await open('models');
    const row = page.locator('tr[data-model="sim0-anthropic/sim-claude"]');
    await row.getByRole('button', { name: /Use .* as default/ }).click();
    await expect(row.getByRole('status').textContent()).resolves.toContain('is your default model');

    await open('settings');
    await page.locator('tr[data-context="default"]').waitFor();
    await expect(page.locator('tr[data-context="default"]').textContent()).resolves.toContain('sim-claude');
    await shot('02-settings');
    // A new context follows the API's rule (upper case, dots and colons too); a space is refused.
    const add = page.getByRole('button', { name: 'Add context' });
    await page.getByLabel('New context').fill('Team notes');
    await expect(add.isDisabled()).resolves.toBe(true);
    await page.getByLabel('New context').fill('Team.notes:v2');
    await add.click();
    await page.getByLabel("Model for 'Team.notes:v2'").waitFor();

    await ask('Which model are you?', 'auto', 'preference');
    await expect(stat('Provider').textContent()).resolves.toBe('sim0-anthropic');
    await expect(stat('Model').textContent()).resolves.toBe('sim-claude');
  });

  it('Models: Enter in a context field sets the model for that context, as its button does', async () => {
    const preferences = `${system.gatewayUrl}/api/v1/ai/preferences`;
    try {
      await open('models');
      const row = page.locator('tr[data-model="sim0/sim-gpt"]');
      const context = row.getByLabel(/^Context for /);
      await context.fill('enter-e2e');
      await context.press('Enter');
      await row.getByRole('status').filter({ hasText: "for 'enter-e2e'" }).waitFor();
      const stored = (await fetch(preferences, { headers: system.headers() }).then((r) => r.json())) as {
        data: { context: string; id: string }[];
      };
      expect(stored.data.filter((p) => p.context === 'enter-e2e').map((p) => p.id)).toEqual(['sim0/sim-gpt']);
    } finally {
      await fetch(`${preferences}/enter-e2e`, { method: 'DELETE', headers: system.headers() });
    }
  });

  it('Playground sends no routing policy unless one is chosen', async () => {
    await open('playground');
    await expect(page.getByLabel('Routing policy').inputValue()).resolves.toBe('');
    await page.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
    await page.getByRole('textbox', { name: 'Prompt' }).fill('Which policy?');
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
      page.getByRole('button', { name: 'Send' }).click(),
    ]);
    expect(JSON.parse(request.postData() ?? '{}')).not.toHaveProperty('policy');
    await page.locator('.answer[data-done="true"]').waitFor();
  });

  it('Playground: leaving the screen while an answer streams stops it, rather than let the provider go on', async () => {
    const sim = system.sims[0];
    const before = sim.config().chunkDelayMs;
    // 32 chunks, 400 ms apart: the answer would stream for some 13 s.
    sim.configure({ chunkDelayMs: 400 });
    let onFailed: (r: { url(): string; failure(): { errorText: string } | null }) => void = () => undefined;
    const stopped = new Promise<string>((resolve) => {
      onFailed = (r) => {
        if (new URL(r.url()).pathname === '/v1/chat/completions') {
          resolve(r.failure()?.errorText ?? 'failed');
        }
      };
    });
    page.on('requestfailed', onFailed);
    try {
      await open('playground');
      await page.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
      await page.getByRole('textbox', { name: 'Prompt' }).fill('A long answer, please, that nobody will read');
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('.answer[data-done="false"]').filter({ hasNotText: '…' }).waitFor();
      await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Models' }).click();
      await page.locator('#screen-title').filter({ hasText: 'Models' }).waitFor();
      await expect(
        Promise.race([stopped, new Promise((r) => setTimeout(() => r('still streaming after 5 s'), 5000))]),
      ).resolves.toContain('ERR_ABORTED');
    } finally {
      page.off('requestfailed', onFailed);
      sim.configure({ chunkDelayMs: before });
    }
  });

  it('Playground: a connection lost while an answer streams says so, and that the answer shown is partial', async () => {
    // The tab reaches the gateway through a relay the test cuts, as a network would drop.
    const relay = new CuttableRelay(system.gatewayUrl);
    await relay.open();
    const sim = system.sims[0];
    const before = sim.config().chunkDelayMs;
    sim.configure({ chunkDelayMs: 300 });
    const context = await browser.newContext();
    const tab = await context.newPage();
    tab.setDefaultTimeout(10_000);
    try {
      await tab.goto(`${relay.url().replace(/\/$/, '')}/console/#/playground`);
      await tab.getByRole('form', { name: 'Sign in' }).getByLabel('API key').fill(system.adminKey);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
      await tab.getByRole('textbox', { name: 'Prompt' }).fill('An answer the network will cut');
      await tab.getByRole('button', { name: 'Send' }).click();
      await tab.locator('.answer[data-done="false"]').filter({ hasNotText: '…' }).waitFor();
      await relay.cut();
      await tab
        .getByRole('alert')
        .filter({ hasText: 'The connection to the gateway was lost before the answer was complete' })
        .waitFor();
      await expect(tab.locator('.answer').getAttribute('data-done')).resolves.toBe('false');
    } finally {
      await context.close();
      await relay.cut();
      sim.configure({ chunkDelayMs: before });
    }
  });

  it('Playground streams an answer and shows provider, model, route, attempts, tokens and cost', async () => {
    await ask('Say something about lighthouses', 'sim0/sim-gpt', '');
    await expect(page.locator('.answer').textContent()).resolves.toMatch(/\S/);
    await expect(stat('Provider').textContent()).resolves.toBe('sim0');
    await expect(stat('Model').textContent()).resolves.toBe('sim-gpt');
    await expect(stat('Route').textContent()).resolves.toBe('direct');
    await expect(stat('Attempts').textContent()).resolves.toBe('1');
    await expect(stat('Tokens').textContent()).resolves.toMatch(/^[1-9]\d*$/);
    await expect(stat('Cost').textContent()).resolves.toMatch(/^\$0\.\d*[1-9]/);
    await shot('04-playground');
  });

  it("Playground: an answer that shared an identical request's provider call (coalesced) costs $0, as a cache hit", async () => {
    await open('playground');
    // The page's own key (identical requests join across callers only when CACHE_SCOPE allows): from its session
    // storage, in the page, whose globals the test's types do not describe.
    const key = await page.evaluate(() =>
      (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem(
        'aigw.console.key',
      ),
    );
    const prompt = `coalesce in the playground ${Date.now()}`;
    // The leader: the same request as the page's, held at the provider until the page's has joined it.
    system.sim.configure({ latencyMs: 5_000 });
    try {
      const before = system.sim.stats().total;
      const leader = fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'sim0/sim-gpt',
          messages: [{ role: 'user', content: prompt }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      await waitFor(() => system.sim.stats().total > before, {
        timeoutMs: 10_000,
        message: 'leader not at the provider',
      });
      await page.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
      await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions')),
        page.getByRole('button', { name: 'Send' }).click(),
      ]);
      // What the test relies on: the page's request joined the leader's call (it was still at the provider).
      expect(await response.headerValue('x-gateway-coalesced')).toBe('true');
      await page.locator('.answer[data-done="true"]').waitFor();
      await page.locator('[data-stat="Cost"]').filter({ hasNotText: '…' }).waitFor();
      await expect(stat('Cost').textContent()).resolves.toBe('$0');
      await expect(stat('Cache').textContent()).resolves.toBe('miss (coalesced)');
      expect(system.sim.stats().total).toBe(before + 1);
      await (await leader).text();
    } finally {
      system.sim.configure({ latencyMs: 0 });
    }
  });

  it('Usage shows the traffic as a chart over time and by provider', async () => {
    // Some traffic of its own (the Playground's too when the whole file runs).
    const sent = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'usage please' }] }),
    });
    expect(sent.status).toBe(200);
    // Usage rows are written by the worker after the answer: wait until the API counts them.
    await waitFor(
      async () => {
        const r = await fetch(`${system.gatewayUrl}/api/v1/ai/usage`, { headers: system.headers() });
        return ((await r.json()) as { totals: { requests: number } }).totals.requests >= 1;
      },
      { timeoutMs: 15_000, message: 'usage not recorded' },
    );
    await open('usage');
    await page.locator('svg[data-chart="line"]').waitFor();
    // Days are UTC days: the range says so.
    await page.getByLabel('From (UTC)').waitFor();
    await expect(stat('Requests').textContent()).resolves.toMatch(/^[1-9]\d*$/);
    await expect(stat('Cost').textContent()).resolves.toMatch(/^\$0\.\d*[1-9]/);
    // The user's own view counts its cache hits too (the usage API's cachedRequests): a rate, not '—'.
    await expect(stat('Cache hit rate').textContent()).resolves.toMatch(/^\d+(\.\d)?%$/);
    await expect(page.locator('svg[data-chart="bar"]').getAttribute('aria-label')).resolves.toContain('sim0');
    const quota = page.getByRole('region', { name: /Remaining quota/ });
    await expect(quota.textContent()).resolves.toContain('Requests today');
    // "Today" and "this month" are UTC periods: the section says when each starts over, as the API does.
    const resets = await fetch(`${system.gatewayUrl}/api/v1/ai/usage`, { headers: system.headers() })
      .then((r) => r.json() as Promise<{ quota: { resetsAt: { daily: string; monthly: string } } }>)
      .then((u) => u.quota.resetsAt);
    const utc = (iso: string) => `${new Date(iso).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
    await expect(quota.textContent()).resolves.toContain(`resets ${utc(resets.daily)}`);
    await expect(quota.textContent()).resolves.toContain(`resets ${utc(resets.monthly)}`);
    await shot('03-usage');

    // An admin switches to all users (the analytics API) and downloads the costs CSV.
    await page.getByLabel('All users').check();
    await page.getByRole('region', { name: 'All users' }).waitFor();
    await settled();
    await expect(stat('Cache hit rate').textContent()).resolves.toMatch(/^\d+(\.\d)?%$/);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download costs CSV' }).click(),
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    expect(csv.split('\n')[0]).toMatch(/cost/i);
    expect(csv.trim().split('\n').length).toBeGreaterThanOrEqual(2);
  });

  it('Usage, all users: the success rate is of the requests that ended; those their clients left are counted apart', async () => {
    // The analytics' totals as the API answers them since clientClosed: 100 requests, 9 successes, 1 failure, 90
    // left by their clients (neither).
    const figures = {
      requests: 100,
      successes: 9,
      failures: 1,
      clientClosed: 90,
      promptTokens: 1000,
      completionTokens: 500,
      cachedTokens: 0,
      costUsd: 0.01,
      costSavedUsd: 0,
      cacheHits: 0,
      avgLatencyMs: 100,
      p95LatencyMs: 200,
      failedAttempts: 0,
    };
    await page.route('**/api/v1/ai/admin/usage?*', async (route) => {
      const url = new URL(route.request().url());
      const day = url.searchParams.get('from')?.slice(0, 10) ?? '';
      const groupBy = url.searchParams.get('groupBy') ?? 'day';
      await route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          from: url.searchParams.get('from'),
          to: url.searchParams.get('to'),
          groupBy,
          page: 1,
          limit: 500,
          totalGroups: 1,
          totals: figures,
          groups: [{ key: groupBy === 'day' ? day : 'sim0', ...figures }],
        }),
      });
    });
    try {
      await open('usage');
      await settled();
      // The caller's own view has no outcome counts: no rate made up for it.
      await expect(stat('Success rate').count()).resolves.toBe(0);
      await page.getByLabel('All users').check();
      await page.getByRole('region', { name: 'All users' }).waitFor();
      await settled();
      await expect(stat('Success rate').textContent()).resolves.toBe('90%');
      const hint = page.locator('.stat').filter({ has: stat('Success rate') });
      await expect(hint.textContent()).resolves.toContain('1 failed');
      await expect(hint.textContent()).resolves.toContain('90 left by their client');
    } finally {
      await page.unroute('**/api/v1/ai/admin/usage?*');
    }
  });

  it('Usage: a 366-day chart across years labels its days with the year, each once', async () => {
    const sent = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'a year of usage' }] }),
    });
    expect(sent.status).toBe(200);
    await waitFor(
      async () => {
        const r = await fetch(`${system.gatewayUrl}/api/v1/ai/usage`, { headers: system.headers() });
        return ((await r.json()) as { totals: { requests: number } }).totals.requests >= 1;
      },
      { timeoutMs: 15_000, message: 'usage not recorded' },
    );
    await open('usage');
    const to = await page.getByLabel('To (UTC)').inputValue();
    const from = new Date(Date.parse(`${to}T00:00:00Z`) - 365 * 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From (UTC)').fill(from);
    const chart = page.locator('svg[data-chart="line"]');
    await chart.and(page.locator(`[aria-label*="${from}: "]`)).waitFor();
    const labels = ((await chart.getAttribute('aria-label')) ?? '')
      .replace(/^[^.]*\. /, '')
      .split('; ')
      .map((p) => p.split(': ')[0]);
    expect(labels).toHaveLength(366);
    expect(new Set(labels).size).toBe(366);
    expect(labels[0]).toBe(from);
    expect(labels[365]).toBe(to);
    await expect(page.getByLabel('From (UTC)').inputValue()).resolves.toBe(from);
  });

  it("Usage: a range longer than its API answers, or reversed, is said in the fields' terms and never asked for", async () => {
    await open('usage');
    await settled();
    const asked: string[] = [];
    const onRequest = (r: { url: () => string }) => {
      const url = new URL(r.url());
      if (url.pathname.endsWith('/usage')) {
        asked.push(`${url.pathname} ${url.searchParams.get('from')?.slice(0, 10)}`);
      }
    };
    page.on('request', onRequest);
    const to = await page.getByLabel('To (UTC)').inputValue();
    const daysBack = (n: number) => new Date(Date.parse(`${to}T00:00:00Z`) - n * 86_400_000).toISOString().slice(0, 10);
    const problem = page.getByRole('alert').filter({ hasText: 'days, and this one has' });
    try {
      // One day more than the caller's own usage API takes (MAX_RANGE_DAYS): the console's words, no Retry of a
      // request that could only be refused again, and no request.
      await page.getByLabel('From (UTC)').fill(daysBack(OWN_USAGE_MAX_DAYS));
      await problem.waitFor();
      await expect(problem.textContent()).resolves.toBe(
        `A range covers at most ${OWN_USAGE_MAX_DAYS} days, and this one has ${OWN_USAGE_MAX_DAYS + 1}: pick a later From or an earlier To.`,
      );
      await expect(problem.getByRole('button', { name: 'Retry' }).count()).resolves.toBe(0);
      await shot('03-usage-range-too-long');
      // All users (the analytics API) take that range: it is asked for and shown. Waited for as a request: the
      // loading state may not be on the page yet when the region is, so `settled` alone can pass before the ask.
      const adminAsked = page.waitForRequest((r) => {
        const url = new URL(r.url());
        return (
          url.pathname.endsWith('/admin/usage') &&
          url.searchParams.get('from')?.slice(0, 10) === daysBack(OWN_USAGE_MAX_DAYS)
        );
      });
      await page.getByLabel('All users').check();
      await page.getByRole('region', { name: 'All users' }).waitFor();
      await adminAsked;
      await settled();
      expect(asked).toContain(`/api/v1/ai/admin/usage ${daysBack(OWN_USAGE_MAX_DAYS)}`);
      await page.getByLabel('From (UTC)').fill(daysBack(ANALYTICS_MAX_DAYS));
      await problem.waitFor();
      await expect(problem.textContent()).resolves.toContain(`at most ${ANALYTICS_MAX_DAYS} days`);
      await expect(page.getByRole('button', { name: 'Download costs CSV' }).isDisabled()).resolves.toBe(true);
      await page.getByLabel('All users').uncheck();
      // The longest range the own usage API takes is asked for and shown.
      await page.getByLabel('From (UTC)').fill(daysBack(OWN_USAGE_MAX_DAYS - 1));
      await page.getByRole('region', { name: 'Your usage' }).waitFor();
      await settled();
      await expect(page.getByRole('alert').count()).resolves.toBe(0);
      // From after To.
      await page.getByLabel('To (UTC)').fill(daysBack(1));
      await page.getByLabel('From (UTC)').fill(to);
      await page.getByRole('alert').filter({ hasText: 'From is after To: pick a From on or before To.' }).waitFor();
      expect(asked.filter((a) => a.endsWith(` ${daysBack(OWN_USAGE_MAX_DAYS)}`) && !a.includes('admin'))).toEqual([]);
      expect(asked.filter((a) => a.endsWith(` ${daysBack(ANALYTICS_MAX_DAYS)}`))).toEqual([]);
      expect(asked.filter((a) => a.endsWith(` ${to}`))).toEqual([]);
    } finally {
      page.off('request', onRequest);
    }
    await page.getByRole('button', { name: 'Today' }).click();
    await page.getByRole('region', { name: 'Your usage' }).waitFor();
  });

  it('Usage: a page a proxy answers in place of the costs CSV (a 200) is said, never downloaded as the CSV', async () => {
    await open('usage');
    await settled();
    // What a sign-in proxy in front of the gateway answers once its own session has expired.
    await page.route('**/api/v1/ai/admin/costs?*', (r) =>
      r.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><title>Sign in</title>',
      }),
    );
    const downloads: string[] = [];
    const onDownload = (d: Download) => downloads.push(d.suggestedFilename());
    page.on('download', onDownload);
    const button = page.getByRole('button', { name: 'Download costs CSV' });
    try {
      await button.click();
      await page
        .getByRole('alert')
        .filter({ hasText: "The answer was not the gateway API's CSV (HTTP 200, text/html)" })
        .waitFor();
      await expect(page.getByText('Costs CSV downloaded.').count()).resolves.toBe(0);
      expect(downloads).toEqual([]);
    } finally {
      page.off('download', onDownload);
      await page.unroute('**/api/v1/ai/admin/costs?*');
    }
    // The gateway's own CSV downloads.
    const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
    expect(download.suggestedFilename()).toMatch(/^costs-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(readFileSync(await download.path(), 'utf8').split('\r\n')[0]).toBe(
      'day,costUsd,costSavedUsd,requests,promptTokens,completionTokens',
    );
  });

  it('Usage: a relative range moves on past midnight UTC at the next refresh; a range picked stays', async () => {
    const { context, tab } = await clockedTab('usage');
    const DAY = 86_400_000;
    const asked: string[] = [];
    tab.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/v1/ai/usage' && url.searchParams.get('groupBy') === 'day') {
        asked.push(url.searchParams.get('to') ?? '');
      }
    });
    const dayAfter = (d: string, n = 1) => new Date(Date.parse(`${d}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
    try {
      await tab.locator('[data-stat="Requests"]').waitFor();
      await tab.locator('.state.loading').first().waitFor({ state: 'detached' });
      const today = await tab.getByLabel('To (UTC)').inputValue();
      expect(asked.at(-1)).toBe(`${dayAfter(today)}T00:00:00.000Z`);
      // The page's clock (only) passes midnight: the next refresh asks for the new day, and the fields show it.
      await tab.clock.setSystemTime((await tab.evaluate(() => Date.now())) + DAY);
      const before = asked.length;
      expect(await advanceUntil(tab, () => asked.length > before, 20_000)).toBeLessThanOrEqual(16_000);
      expect(asked.at(-1)).toBe(`${dayAfter(today, 2)}T00:00:00.000Z`);
      await waitFor(async () => (await tab.getByLabel('To (UTC)').inputValue()) === dayAfter(today), {
        timeoutMs: 5_000,
        message: 'the To field did not move on to the new day',
      });

      // A date picked fixes the range: another midnight later it still asks for those days.
      await tab.getByLabel('From (UTC)').fill(today);
      await tab.locator('.state.loading').first().waitFor({ state: 'detached' });
      await tab.clock.setSystemTime((await tab.evaluate(() => Date.now())) + DAY);
      const picked = asked.length;
      await advanceUntil(tab, () => asked.length > picked, 20_000);
      expect(asked.length).toBeGreaterThan(picked);
      expect(asked.at(-1)).toBe(`${dayAfter(today, 2)}T00:00:00.000Z`);
      await expect(tab.getByLabel('To (UTC)').inputValue()).resolves.toBe(dayAfter(today));
    } finally {
      await context.close();
    }
  });

  it('Keys and quotas: create a key (shown once), then sign in with it as a user and use it', async () => {
    await open('keys');
    await page.getByLabel('User name').fill('console-e2e-user');
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect(page.getByRole('form', { name: 'Create user' }).getByRole('status').textContent()).resolves.toContain(
      'created',
    );
    // The user just created is the one the key is for: the picker shows their name (set by an effect, which Preact
    // runs after the paint that showed the status).
    const picked = page.getByRole('form', { name: 'Create key' }).getByLabel('User');
    await waitFor(async () => (await picked.inputValue()) === 'console-e2e-user', {
      timeoutMs: 5000,
      message: 'the key form picks the user just created',
    });
    await page.getByLabel('Key name').fill('from the console');
    await page.getByRole('button', { name: 'Create key' }).click();
    const keyInput = page.locator('input[data-new-key]');
    await keyInput.waitFor();
    const key = await keyInput.inputValue();
    expect(key).toMatch(/^sk-/);
    await page.locator('tr[data-key-prefix]').filter({ hasText: 'from the console' }).waitFor();
    await shot('07-keys');

    // Request limits are whole numbers (the API refuses 1.5): the browser says so before sending; spend takes cents.
    await pickUser(page.getByRole('region', { name: 'Quotas' }).getByLabel('User'), 'console-e2e-user');
    const quota = page.getByRole('form', { name: 'Quota' });
    await quota.getByLabel('Daily request limit').fill('1.5');
    await expect(
      quota
        .getByLabel('Daily request limit')
        .evaluate((el: { validity: { stepMismatch: boolean } }) => el.validity.stepMismatch),
    ).resolves.toBe(true);
    await quota.getByLabel('Daily spend limit (USD)').fill('0.25');
    await expect(
      quota.getByLabel('Daily spend limit (USD)').evaluate((el: { validity: { valid: boolean } }) => el.validity.valid),
    ).resolves.toBe(true);

    await signOut();
    await signIn(key);
    await expect(page.locator('.who').getAttribute('data-role')).resolves.toBe('user');
    await expect(page.getByRole('link', { name: 'Providers' }).count()).resolves.toBe(0);
    await ask('Hello from a new key', 'sim0/sim-gpt', '');
    await expect(stat('Provider').textContent()).resolves.toBe('sim0');
    // An admin screen by URL: refused in the page, not shown.
    await open('providers');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('no screen');
    await signOut();
    await signIn(system.adminKey);
  });

  it("Keys: a key made with expiry, allowed models and rate limits; the API's refusals show by their field", async () => {
    await apiKeyFor('console-e2e-limits');
    await open('keys');
    const form = page.getByRole('form', { name: 'Create key' });
    await pickUser(form.getByLabel('User'), 'console-e2e-limits');
    await form.getByLabel('Key name').fill('limited');
    // The API refuses an expiry in the past: its message (param expiresAt) goes under that field.
    await form.getByLabel('Expires (UTC)').fill('2020-01-01T00:00');
    await form.getByRole('button', { name: 'Create key' }).click();
    // The answer first (reading the field straight after the click raced it), then the field it marks.
    const expiresError = form.locator('[data-field-error="expiresAt"]');
    await expect(expiresError.textContent()).resolves.toContain('must lie in the future');
    const expires = form.getByLabel('Expires (UTC)');
    await expect(expires.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(
      expires.evaluate((el: { getAttribute(n: string): string | null }) => el.getAttribute('aria-describedby')),
    ).resolves.toContain((await expiresError.getAttribute('id')) ?? 'no id');

    // An entry the API does not take ('*' only as provider/*): the message moves to the allowed models.
    await form.getByLabel('Expires (UTC)').fill('2099-01-31T12:30');
    await form.getByLabel('Allowed models').fill('sim0/sim-gpt, sim-*');
    await form.getByRole('button', { name: 'Create key' }).click();
    await form
      .locator('[data-field-error="allowedModels"]')
      .filter({ hasText: /provider\/\*/ })
      .waitFor();
    await expect(form.locator('[data-field-error="expiresAt"]').count()).resolves.toBe(0);
    await expect(form.getByLabel('Allowed models').getAttribute('aria-invalid')).resolves.toBe('true');
    // Rate limits are whole numbers of at least 1: the browser says so before sending.
    await form.getByLabel('Requests per minute').fill('0');
    await expect(
      form
        .getByLabel('Requests per minute')
        .evaluate((el: { validity: { rangeUnderflow: boolean } }) => el.validity.rangeUnderflow),
    ).resolves.toBe(true);
    await shot('07-keys-errors');

    await form.getByLabel('Allowed models').fill('sim0/sim-gpt, sim0-anthropic/*');
    await form.getByLabel('Requests per minute').fill('30');
    await form.getByLabel('Tokens per minute').fill('5000');
    await form.getByRole('button', { name: 'Create key' }).click();
    const secret = await form.locator('input[data-new-key]').inputValue();
    await expect(form.locator('[data-field-error]').count()).resolves.toBe(0);
    const keys = (await fetch(`${system.gatewayUrl}/api/v1/ai/admin/keys`, { headers: system.headers() }).then((r) =>
      r.json(),
    )) as { data: Record<string, unknown>[] };
    expect(keys.data.find((k) => k.prefix === prefixOf(secret))).toMatchObject({
      name: 'limited',
      expiresAt: '2099-01-31T12:30:00.000Z',
      allowedModels: ['sim0/sim-gpt', 'sim0-anthropic/*'],
      rpm: 30,
      tpm: 5000,
    });
    // The key holds to them: a model outside its list is refused.
    const outside = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: system.headers(secret),
      body: JSON.stringify({ model: 'closed/closed-gpt', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(outside.status).toBe(403);
    // The fields are cleared for the next key.
    await expect(form.getByLabel('Allowed models').inputValue()).resolves.toBe('');
    await expect(form.getByLabel('Requests per minute').inputValue()).resolves.toBe('');
  });

  it('Keys: the key shown once names its user and role; the next key is a user key again, as the other fields clear', async () => {
    await apiKeyFor('console-e2e-admin-maker');
    await apiKeyFor('console-e2e-next-user');
    await open('keys');
    const form = page.getByRole('form', { name: 'Create key' });
    await pickUser(form.getByLabel('User'), 'console-e2e-admin-maker');
    await form.getByLabel('Role').selectOption('admin');
    await form.getByLabel('Key name').fill('ops admin');
    await form.getByRole('button', { name: 'Create key' }).click();
    const shown = form.locator('.new-key');
    await shown.locator('input[data-new-key]').waitFor();
    const secret = await shown.locator('input[data-new-key]').inputValue();
    // Whose key the secret is, and what it may do, beside it: it stays on show while the next key is made.
    await expect(shown.textContent()).resolves.toContain('console-e2e-admin-maker');
    await expect(shown.textContent()).resolves.toContain('admin');
    await expect(shown.textContent()).resolves.toContain(prefixOf(secret));
    // Cleared for the next key like its name: an admin key made once must not make the next user's key admin too.
    await expect(form.getByLabel('Key name').inputValue()).resolves.toBe('');
    await expect(form.getByLabel('Role').inputValue()).resolves.toBe('user');

    // A key for someone else that the API refuses: the secret on show is still named as the first user's.
    await pickUser(form.getByLabel('User'), 'console-e2e-next-user');
    await form.getByLabel('Expires (UTC)').fill('2020-01-01T00:00');
    await form.getByRole('button', { name: 'Create key' }).click();
    await form.locator('[data-field-error="expiresAt"]').waitFor();
    await expect(shown.textContent()).resolves.toContain('console-e2e-admin-maker');
    await expect(shown.textContent()).resolves.not.toContain('console-e2e-next-user');
  });

  it('Keys: Copy of the key shown once, where the page has no clipboard API (plain HTTP), selects the key and says how to copy it', async () => {
    await apiKeyFor('console-e2e-no-clipboard');
    // A console opened over plain HTTP on another host than localhost is no secure context: no navigator.clipboard.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(() => {
      const { Navigator } = globalThis as unknown as { Navigator: { prototype: object } };
      Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined, configurable: true });
    });
    const tab = await context.newPage();
    tab.setDefaultTimeout(10_000);
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    try {
      await tab.goto(`${system.gatewayUrl}/console/#/keys`);
      await tab.getByRole('form', { name: 'Sign in' }).getByLabel('API key').fill(system.adminKey);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      const form = tab.getByRole('form', { name: 'Create key' });
      const picker = form.getByLabel('User');
      await picker.fill('console-e2e-no-clipboard');
      await tab
        .getByRole('listbox', { name: 'Names found' })
        .getByRole('option', { name: 'console-e2e-no-clipboard', exact: true })
        .click();
      await form.getByRole('button', { name: 'Create key' }).click();
      const input = form.locator('input[data-new-key]');
      await input.waitFor();
      const secret = await input.inputValue();
      await form.getByRole('button', { name: 'Copy' }).click();
      await form
        .locator('.new-key')
        .filter({ hasText: /selected/ })
        .waitFor();
      expect(errors).toEqual([]);
      // The key is selected in its field, for Ctrl+C / Cmd+C.
      await expect(
        input.evaluate((el: { selectionStart: number | null; selectionEnd: number | null }) => [
          el.selectionStart,
          el.selectionEnd,
        ]),
      ).resolves.toEqual([0, secret.length]);
      await expect(
        input.evaluate((el: { ownerDocument: { activeElement: unknown } }) => el.ownerDocument.activeElement === el),
      ).resolves.toBe(true);
    } finally {
      await context.close();
    }
  });

  it('Keys: a saved quota keeps showing the values saved while it is read again, never those from before', async () => {
    await apiKeyFor('quota-e2e-user');
    // The quota read after the save answers late, as on a slow link: meanwhile the form shows what was saved.
    let slow = false;
    let slowReads = 0;
    await page.route('**/api/v1/ai/admin/quotas/*', async (route) => {
      if (slow && route.request().method() === 'GET') {
        slowReads++;
        await new Promise((r) => setTimeout(r, 1500));
      }
      await route.continue();
    });
    try {
      await open('keys');
      await settled();
      await pickUser(page.getByRole('region', { name: 'Quotas' }).getByLabel('User'), 'quota-e2e-user');
      const quota = page.getByRole('form', { name: 'Quota' });
      const daily = quota.getByLabel('Daily request limit');
      await expect(daily.inputValue()).resolves.toBe('');
      await daily.fill('77');
      slow = true;
      await quota.getByRole('button', { name: 'Save quota' }).click();
      await quota.getByRole('status').filter({ hasText: 'Quota saved.' }).waitFor();
      await expect(daily.inputValue()).resolves.toBe('77');
      // Once read again: the stored value.
      const asked = slowReads;
      await page.getByRole('region', { name: 'Quotas' }).locator('.state.loading').waitFor({ state: 'detached' });
      expect(asked).toBe(1);
      await expect(daily.inputValue()).resolves.toBe('77');
    } finally {
      await page.unroute('**/api/v1/ai/admin/quotas/*');
    }
  });

  it('Keys: a very long key or user name without spaces wraps; the row keeps its state and Revoke in sight', async () => {
    const long = (what: string) => `${what}-${'W'.repeat(150)}`;
    const user = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/users`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ name: long('user') }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    const created = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/keys`, {
      method: 'POST',
      headers: system.headers(),
      body: JSON.stringify({ userId: user.id, name: long('key') }),
    });
    expect(created.status).toBe(201);
    const { prefix } = (await created.json()) as { prefix: string };
    await open('keys');
    const row = page.locator(`tr[data-key-prefix="${prefix}"]`);
    await expect(row.textContent()).resolves.toContain(long('key'));
    const viewport = page.viewportSize()?.width ?? 0;
    for (const cell of [row.locator('[data-key-state]'), row.getByRole('button', { name: 'Revoke' })]) {
      const box = await cell.boundingBox();
      expect(box).not.toBeNull();
      expect((box?.x ?? 0) + (box?.width ?? 0)).toBeLessThanOrEqual(viewport);
    }
    await shot('06-keys-long-names');
  });

  it('Keys: revoking asks first; revoking the key of the session signs out', async () => {
    const other = await apiKeyFor('console-e2e-other');
    const mine = await apiKeyFor('console-e2e-admin', { role: 'admin' });
    await signOut();
    await signIn(mine);
    await open('keys');
    const own = page.locator(`tr[data-key-prefix="${prefixOf(mine)}"]`);
    await expect(own.getAttribute('data-session')).resolves.toBe('true');
    await expect(own.locator('th').textContent()).resolves.toContain('this session');
    await expect(page.locator('tr[data-session="true"]').count()).resolves.toBe(1);

    // Another key: the first press only asks; Cancel keeps it.
    const row = page.locator(`tr[data-key-prefix="${prefixOf(other)}"]`);
    await row.getByRole('button', { name: `Revoke key ${prefixOf(other)}` }).click();
    await expect(row.getByRole('group').textContent()).resolves.toContain('loses access');
    await row.getByRole('button', { name: 'Cancel' }).click();
    await expect(row.locator('[data-key-state]').textContent()).resolves.toBe('active');
    await row.getByRole('button', { name: `Revoke key ${prefixOf(other)}` }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await row
      .locator('[data-key-state]')
      .filter({ hasText: /^revoked / })
      .waitFor();

    // The session's own key: it says so, and once revoked the console is back at the sign-in.
    await own.getByRole('button', { name: `Revoke key ${prefixOf(mine)}` }).click();
    await expect(own.getByRole('group').textContent()).resolves.toContain('you will be signed out');
    await own.getByRole('button', { name: 'Yes, revoke' }).click();
    await signInKey().waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(
      'You revoked the key you were signed in with',
    );
    await signIn(system.adminKey);
  });

  it('Keys: after "Yes, revoke" the keyboard focus is on the next key\'s Revoke, not back at the top of the page', async () => {
    const older = await apiKeyFor('console-e2e-focus-older');
    const newer = await apiKeyFor('console-e2e-focus-newer');
    await open('keys');
    await settled();
    // The newest first: the newer key's row, then the older one's.
    const row = page.locator(`tr[data-key-prefix="${prefixOf(newer)}"]`);
    await row.getByRole('button', { name: `Revoke key ${prefixOf(newer)}` }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).press('Enter');
    await row
      .locator('[data-key-state]')
      .filter({ hasText: /^revoked / })
      .waitFor();
    const olderRow = page.locator(`tr[data-key-prefix="${prefixOf(older)}"]`);
    const next = olderRow.getByRole('button', { name: `Revoke key ${prefixOf(older)}` });
    await waitFor(
      () => next.evaluate((el: { ownerDocument: { activeElement: unknown } }) => el === el.ownerDocument.activeElement),
      { timeoutMs: 5_000, intervalMs: 50 },
    );
    // The keyboard goes on from there: Enter asks about that key, Escape keeps it.
    await page.keyboard.press('Enter');
    await olderRow.getByRole('button', { name: 'Yes, revoke' }).waitFor();
    await page.keyboard.press('Escape');
    await expect(olderRow.locator('[data-key-state]').textContent()).resolves.toBe('active');
  });

  it('Keys: a quota the API refuses shows its message under the field it names, not under the whole form', async () => {
    await apiKeyFor('quota-e2e-fields');
    await open('keys');
    await settled();
    await pickUser(page.getByRole('region', { name: 'Quotas' }).getByLabel('User'), 'quota-e2e-fields');
    const quota = page.getByRole('form', { name: 'Quota' });
    const save = quota.getByRole('button', { name: 'Save quota' });
    // An unknown tier: under Tier, the control marked invalid.
    await quota.getByLabel('Tier').fill('no-such-tier');
    await save.click();
    const tierError = quota.locator('[data-field-error="tier"]');
    await tierError.waitFor();
    await expect(tierError.textContent()).resolves.toMatch(/tier/i);
    await expect(quota.getByLabel('Tier').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(quota.locator('.state.error').count()).resolves.toBe(0);
    // A limit past what the API takes (the browser lets it through: no max on the field): under that limit.
    await quota.getByLabel('Tier').fill('default');
    await quota.getByLabel('Monthly request limit').fill('99999999999');
    await save.click();
    const limitError = quota.locator('[data-field-error="monthlyRequestLimit"]');
    await limitError.waitFor();
    await expect(quota.locator('[data-field-error="tier"]').count()).resolves.toBe(0);
    await expect(quota.getByLabel('Monthly request limit').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(quota.locator('.state.error').count()).resolves.toBe(0);
    // Fixed and saved: no error left.
    await quota.getByLabel('Monthly request limit').fill('5000');
    await save.click();
    await quota.getByRole('status').filter({ hasText: 'Quota saved.' }).waitFor();
    await expect(quota.locator('[data-field-error]').count()).resolves.toBe(0);
  });

  it('a key that expires during the session signs out with the reason; Keys lists it as expired', async () => {
    const expiresAt = Date.now() + 3_000;
    const key = await apiKeyFor('console-e2e-expiring', { expiresAt: new Date(expiresAt).toISOString() });
    await open('models');
    await signOut();
    await signIn(key);
    await new Promise((r) => setTimeout(r, expiresAt + 200 - Date.now()));
    await page.getByRole('link', { name: 'Usage' }).click();
    await signInKey().waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(
      'You were signed out: This API key has expired.',
    );
    // The keyboard is in the key field at once: another key is typed and sent without hunting for it.
    await page.keyboard.type(system.adminKey);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Usage' }).waitFor();

    await open('keys');
    await expect(
      page.locator(`tr[data-key-prefix="${prefixOf(key)}"] [data-key-state]`).textContent(),
    ).resolves.toMatch(/^expired \d{4}-/);
  });

  it("Providers: a provider's API key field is a new password, never autofilled with the console's sign-in key", async () => {
    // autocomplete="off" is ignored by Chrome for passwords: a sign-in key the browser saved would be filled in and
    // sent to the provider on Save or Test.
    await open('providers');
    const fields = page.locator('input[type="password"]');
    await fields.first().waitFor();
    const kinds: (string | null)[] = [];
    for (let n = await fields.count(), i = 0; i < n; i++) {
      kinds.push(await fields.nth(i).getAttribute('autocomplete'));
    }
    expect(kinds.length).toBeGreaterThan(0);
    expect(new Set(kinds)).toEqual(new Set(['new-password']));
  });

  it('Providers: toggle a provider off and on', async () => {
    await open('providers');
    const row = page.locator('tr[data-provider="sim0"]');
    await row.waitFor();
    await expect(row.locator('[data-enabled]').textContent()).resolves.toBe('enabled');
    await row.getByRole('button', { name: 'Disable sim0' }).click();
    await page.locator('tr[data-provider="sim0"] [data-enabled="false"]').waitFor();
    await row.getByRole('button', { name: 'Enable sim0' }).click();
    await page.locator('tr[data-provider="sim0"] [data-enabled="true"]').waitFor();
  });

  it("Providers: the models a provider's own model list lacked at the last check show in its health", async () => {
    // `closed` refuses connections: a probe of it cannot tell, so it keeps this verdict (the settings are unchanged).
    await system.query(
      `UPDATE providers SET unserved_models = '["closed-nocache"]'::jsonb, last_check_at = now(),
              health_valid_until = NULL
        WHERE id = 'closed'`,
    );
    try {
      await open('providers');
      await settled();
      const note = page.locator('tr[data-provider="closed"] [data-unserved]');
      await note.waitFor();
      await expect(note.textContent()).resolves.toContain(
        'not in its model list at the last check (tried last): closed-nocache',
      );
      await expect(page.locator('tr[data-provider="sim0"] [data-unserved]').count()).resolves.toBe(0);
      await shot('providers-unserved');
    } finally {
      // The other tests route to `closed` as usual.
      await system.query(`UPDATE providers SET unserved_models = NULL WHERE id = 'closed'`);
    }
  });

  it('Providers: Disable on a stale page disables (what the button says), never flips it back on', async () => {
    const toggle = (enabled: boolean) =>
      fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers/sim0/toggle`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ enabled }),
      });
    // The page stays stale until the click has been answered: the screen's first fetch of the list goes through;
    // any later one (its periodic refresh, which could otherwise land mid-test, or the reload after the click)
    // reaches the gateway only then.
    const LIST = '**/api/v1/ai/admin/providers';
    let fetched = 0;
    let release: () => void = () => undefined;
    const clicked = new Promise<void>((resolve) => (release = resolve));
    await page.route(LIST, async (route) => {
      if (fetched++ > 0) {
        await clicked;
      }
      await route.continue();
    });
    try {
      await open('providers');
      const row = page.locator('tr[data-provider="sim0"]');
      await row.getByRole('button', { name: 'Disable sim0' }).waitFor();
      // Another admin disables it meanwhile: this page still offers "Disable".
      expect((await toggle(false)).status).toBe(200);
      await row.getByRole('button', { name: 'Disable sim0' }).click();
      await expect(row.getByRole('status').textContent()).resolves.toBe('sim0 disabled.');
      release();
      await page.locator('tr[data-provider="sim0"] [data-enabled="false"]').waitFor();
      const r = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() });
      const list = ((await r.json()) as { data: { id: string; enabled: boolean }[] }).data;
      expect(list.find((p) => p.id === 'sim0')?.enabled).toBe(false);
    } finally {
      release();
      await page.unroute(LIST);
      expect((await toggle(true)).status).toBe(200);
    }
  });

  it('Providers: a connection test of a provider whose port is closed shows the diagnosis', async () => {
    await open('providers');
    const row = page.locator('tr[data-provider="closed"]');
    await row.getByRole('button', { name: 'Test connection of closed' }).click();
    const diagnosis = row.locator('.diagnosis[data-code="connection_refused"]');
    await diagnosis.waitFor({ timeout: 15_000 });
    await expect(diagnosis.textContent()).resolves.toMatch(/Suggestion: \S/);
    await shot('05-providers');
  });

  it('Providers: connection tests run at once each keep their result', async () => {
    await open('providers');
    await page.locator('tr[data-provider="closed"]').waitFor();
    // sim0's answer is held back until closed's has landed: each must stay in its own row.
    const slow = '**/api/v1/ai/admin/providers/sim0/test';
    await page.route(slow, async (route) => {
      await page.locator('tr[data-provider="closed"] .diagnosis').waitFor();
      await route.continue();
    });
    try {
      for (const id of ['sim0', 'closed']) {
        await page
          .locator(`tr[data-provider="${id}"]`)
          .getByRole('button', { name: `Test connection of ${id}` })
          .click();
      }
      await page.locator('tr[data-provider="sim0"]').getByRole('region', { name: 'Connection test of sim0' }).waitFor();
      await expect(page.locator('tr[data-provider="closed"] .diagnosis').count()).resolves.toBeGreaterThan(0);
    } finally {
      await page.unroute(slow);
    }
  });

  it("Providers: an open circuit shows with a Reset that closes it (the admin API's circuit reset)", async () => {
    const circuitOf = async (): Promise<string | undefined> => {
      const r = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() });
      const list = (await r.json()) as { data: { id: string; circuits: { id: string; state: string }[] }[] };
      return list.data.find((p) => p.id === 'closed')?.circuits.find((c) => c.id === 'closed/closed-gpt')?.state;
    };
    // Calls to a closed port fail at once (and on each retry) until the breaker opens.
    await waitFor(
      async () => {
        await Promise.all(
          [1, 2, 3].map(() =>
            fetch(`${system.gatewayUrl}/v1/chat/completions`, {
              method: 'POST',
              headers: system.headers(),
              body: JSON.stringify({ model: 'closed/closed-gpt', messages: [{ role: 'user', content: 'hi' }] }),
            }).then((r) => r.arrayBuffer()),
          ),
        );
        return (await circuitOf()) === 'open';
      },
      { timeoutMs: 20_000, intervalMs: 100, message: 'circuit of closed/closed-gpt never opened' },
    );
    await open('providers');
    const circuit = page.locator('tr[data-provider="closed"] [data-circuit="closed/closed-gpt"]');
    await expect(circuit.textContent()).resolves.toContain('open');
    await circuit.getByRole('button', { name: 'Reset circuit of closed/closed-gpt' }).click();
    await circuit.waitFor({ state: 'detached' });
    await expect(circuitOf()).resolves.toBe('closed');
  });

  it('Configuration: a page a proxy answers in place of the export (a 200) is said, never kept as the configuration', async () => {
    await open('config');
    await page.route('**/api/v1/ai/admin/config/export?*', (r) =>
      r.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><title>Sign in</title>',
      }),
    );
    try {
      await page.getByLabel('Format').selectOption('yaml');
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await page
        .getByRole('alert')
        .filter({ hasText: "The answer was not the gateway API's YAML (HTTP 200, text/html)" })
        .waitFor();
      await expect(page.locator('textarea[data-export]').count()).resolves.toBe(0);
      await expect(page.getByRole('button', { name: 'Download' }).isDisabled()).resolves.toBe(true);
    } finally {
      await page.unroute('**/api/v1/ai/admin/config/export?*');
    }
  });

  it('Configuration: export without secrets, then an import previewed as a diff before it is applied', async () => {
    await open('config');
    await page.getByLabel('Format').selectOption('yaml');
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    const exported = await page.locator('textarea[data-export]').inputValue();
    expect(exported).toContain('sim0-anthropic');
    expect(exported).not.toContain('sk-sim-secret');
    // The file is what was exported, named for its format, even once the Format select says another.
    await page.getByLabel('Format').selectOption('json');
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(file.suggestedFilename()).toBe('aigw-config.yaml');
    expect(readFileSync(await file.path(), 'utf8')).toBe(exported);

    const edited = exported.replace(/(promptPer1k: )0\.003\b/, '$10.004');
    expect(edited).not.toBe(exported);
    await page.getByLabel('Configuration to import (YAML or JSON)').fill(edited);
    await page.getByRole('button', { name: 'Preview changes (dry run)' }).click();
    const diff = page.getByRole('region', { name: 'Changes the import would make' });
    await expect(diff.locator('li.changed').textContent()).resolves.toMatch(/sim-claude.*promptPer1k 0\.003 → 0\.004/);
    await shot('09-configuration');
    // Nothing changed yet: the models listing still has the old price.
    const before = await fetch(`${system.gatewayUrl}/api/v1/ai/models`, { headers: system.headers() });
    expect(JSON.stringify(await before.json())).toContain('"promptPer1k":0.003');

    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'imported' }).textContent()).resolves.toContain(
      'Configuration imported.',
    );
    await waitFor(
      async () => {
        const r = await fetch(`${system.gatewayUrl}/api/v1/ai/models`, { headers: system.headers() });
        return JSON.stringify(await r.json()).includes('"promptPer1k":0.004');
      },
      { timeoutMs: 5_000, message: 'imported price not served' },
    );
  });

  it('Gateway: the LiteLLM endpoint is tested before saving (a closed port shows its diagnosis)', async () => {
    await open('gateway');
    const form = page.getByRole('form', { name: 'Gateway settings' });
    await form.getByLabel('LiteLLM endpoint (base URL)').fill(`http://127.0.0.1:${closedPort}/v1`);
    await form.getByRole('button', { name: 'Test' }).click();
    const diagnosis = form.locator('.diagnosis[data-code="connection_refused"]');
    await diagnosis.waitFor({ timeout: 15_000 });
    await expect(diagnosis.textContent()).resolves.toMatch(/Suggestion: \S/);
    await expect(form.getByRole('button', { name: 'Save' }).isDisabled()).resolves.toBe(true);
    await shot('06-gateway');

    // A server that answers: the test passes, and only then may the settings be saved.
    await form.getByLabel('LiteLLM endpoint (base URL)').fill(`${system.sim.url}/v1`);
    await form.getByLabel('Gateway API key').fill('sk-litellm-secret');
    await form.getByRole('button', { name: 'Test' }).click();
    await form.locator('li.ok').waitFor({ timeout: 15_000 });
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('region', { name: 'Gateway litellm' }).waitFor();
    const r = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/gateways`, { headers: system.headers() });
    const body = JSON.stringify(await r.json());
    expect(body).toContain(`${system.sim.url}/v1`);
    expect(body).not.toContain('sk-litellm-secret');
  });

  /** The `litellm` gateway the Gateway tests save; made here when a test that needs it runs alone. */
  async function ensureGateway(gateways: string): Promise<void> {
    if ((await fetch(`${gateways}/litellm`, { headers: system.headers() })).status === 404) {
      const made = await fetch(gateways, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ id: 'litellm', baseUrl: `${system.sim.url}/v1`, apiKey: 'sk-litellm-secret' }),
      });
      expect(made.status).toBe(201);
    }
  }

  it('Gateway: a new URL with the key field left empty is tested with the stored key', async () => {
    const gateways = `${system.gatewayUrl}/api/v1/ai/admin/gateways`;
    await ensureGateway(gateways);
    keyedProxy.reset();
    await open('gateway');
    const form = page.getByRole('region', { name: 'Gateway litellm' }).getByRole('form', { name: 'Gateway settings' });
    await form.getByText('A key is stored; leave empty to keep it.').waitFor();
    // Same proxy, new address: the admin changes only the URL; the proxy refuses a request without a key.
    await form.getByLabel('LiteLLM endpoint (base URL)').fill(`${keyedProxy.url}/v1`);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/api/v1/ai/admin/providers/test')),
      form.getByRole('button', { name: 'Test' }).click(),
    ]);
    await form.locator('li.ok').waitFor({ timeout: 15_000 });
    expect(keyedProxy.stats().authorized).toBe(1);
    // The page names the gateway whose key to use; it never holds the key.
    expect(JSON.parse(request.postData() ?? '{}')).toEqual({
      kind: 'openai',
      baseUrl: `${keyedProxy.url}/v1`,
      routing: 'direct',
      apiKeyFromGateway: 'litellm',
      settingsOfGateway: 'litellm',
    });
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByRole('status').filter({ hasText: 'Gateway saved.' }).waitFor();
    const saved = (await fetch(`${gateways}/litellm`, { headers: system.headers() }).then((r) => r.json())) as {
      baseUrl: string;
      hasApiKey: boolean;
    };
    expect(saved).toMatchObject({ baseUrl: `${keyedProxy.url}/v1`, hasApiKey: true });
  });

  it("Gateway: a saved gateway's stored ${VAR} key outside ADMIN_KEY_VARIABLES tests and saves, as its PATCH would", async () => {
    const gateways = `${system.gatewayUrl}/api/v1/ai/admin/gateways`;
    // Saved through a replica started while the operator's ADMIN_KEY_VARIABLES named the variable; the gateway the
    // console talks to has the default list (it no longer names it), so only the reference stored for this gateway
    // is accepted there, as its PATCH accepts it.
    const listing = await system.addReplica('api-gateway', { ADMIN_KEY_VARIABLES: 'CONSOLE_E2E_LITELLM_TOKEN' });
    try {
      const made = await fetch(`http://127.0.0.1:${listing.port}/api/v1/ai/admin/gateways`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ id: 'tokened', baseUrl: `${system.sim.url}/v1`, apiKey: LITELLM_REF }),
      });
      expect(made.status).toBe(201);
    } finally {
      listing.child.kill('SIGTERM');
      await listing.exited;
    }
    try {
      keyedProxy.reset();
      await open('gateway');
      const form = page
        .getByRole('region', { name: 'Gateway tokened' })
        .getByRole('form', { name: 'Gateway settings' });
      // The proxy moved: the admin types the new URL and the key's reference as the file names it.
      await form.getByLabel('LiteLLM endpoint (base URL)').fill(`${keyedProxy.url}/v1`);
      await form.getByLabel('Gateway API key').fill(LITELLM_REF);
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.url().endsWith('/api/v1/ai/admin/providers/test')),
        form.getByRole('button', { name: 'Test' }).click(),
      ]);
      // The test passes (before, a 400 naming apiKey, and Save stayed disabled): it says whose settings these are,
      // so the stored reference is read as the PATCH reads it, and the proxy got the key.
      await form.locator('li.ok').or(form.getByRole('alert')).waitFor({ timeout: 15_000 });
      await expect(form.getByRole('alert').allTextContents()).resolves.toEqual([]);
      await expect(form.getByRole('button', { name: 'Save' }).isEnabled()).resolves.toBe(true);
      expect(JSON.parse(request.postData() ?? '{}')).toEqual({
        kind: 'openai',
        baseUrl: `${keyedProxy.url}/v1`,
        routing: 'direct',
        apiKey: LITELLM_REF,
        settingsOfGateway: 'tokened',
      });
      expect(keyedProxy.stats().authorized).toBe(1);
      await form.getByRole('button', { name: 'Save' }).click();
      await form.getByRole('status').filter({ hasText: 'Gateway saved.' }).waitFor();
      const saved = (await fetch(`${gateways}/tokened`, { headers: system.headers() }).then((r) => r.json())) as {
        baseUrl: string;
        apiKeyRef: string | null;
      };
      expect(saved).toMatchObject({ baseUrl: `${keyedProxy.url}/v1`, apiKeyRef: LITELLM_REF });
      await expect(page.content()).resolves.not.toContain(LITELLM_TOKEN);
    } finally {
      await fetch(`${gateways}/tokened`, { method: 'DELETE', headers: system.headers() });
    }
  });

  it('Providers: Edit moves a provider to the gateway or auto route by naming its gateway', async () => {
    await ensureGateway(`${system.gatewayUrl}/api/v1/ai/admin/gateways`);
    const provider = `${system.gatewayUrl}/api/v1/ai/admin/providers/closed`;
    try {
      await open('providers');
      const row = page.locator('tr[data-provider="closed"]');
      await row.getByRole('button', { name: 'Edit' }).click();
      const form = row.getByRole('form', { name: 'Edit closed' });
      await form.getByLabel('Routing').selectOption('auto');
      await form.getByLabel('Gateway', { exact: true }).selectOption('litellm');
      await form.getByRole('button', { name: 'Save' }).click();
      await form.getByRole('status').filter({ hasText: 'closed saved.' }).waitFor();
      const list = (await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() }).then(
        (r) => r.json(),
      )) as { data: { id: string; routing: string; gatewayId: string | null }[] };
      expect(list.data.find((p) => p.id === 'closed')).toMatchObject({ routing: 'auto', gatewayId: 'litellm' });
      // The table is read again after the save; the status may show first.
      await row.locator('.badge.route-auto').waitFor();
      await expect(row.locator('.badge.route-auto').count()).resolves.toBe(1);
    } finally {
      await fetch(provider, {
        method: 'PATCH',
        headers: system.headers(),
        body: JSON.stringify({ routing: 'direct', gatewayId: null }),
      });
    }
  });

  it('Providers: Edit tests changed settings before saving, with the stored key when the key field is empty', async () => {
    const baseUrlOfClosed = async (): Promise<string | undefined> => {
      const list = (await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() }).then(
        (r) => r.json(),
      )) as { data: { id: string; baseUrl: string }[] };
      return list.data.find((p) => p.id === 'closed')?.baseUrl;
    };
    const stored = await baseUrlOfClosed();
    expect(stored).toBe(`http://127.0.0.1:${closedPort}/v1`);
    keyedProxy.reset();
    await open('providers');
    const row = page.locator('tr[data-provider="closed"]');
    await row.getByRole('button', { name: 'Edit' }).click();
    const form = row.getByRole('form', { name: 'Edit closed' });
    await form.getByText('leave empty to keep the stored key').waitFor();
    // The provider moved: the admin changes only the URL; the new address refuses a request without a key.
    await form.getByLabel('Base URL').fill(`${keyedProxy.url}/v1`);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/api/v1/ai/admin/providers/test')),
      form.getByRole('button', { name: 'Test these settings of closed' }).click(),
    ]);
    const result = form.getByRole('region', { name: 'Connection test of the settings' });
    await result.locator('li[data-route="direct"]').waitFor({ timeout: 15_000 });
    await expect(result.locator('li[data-route="direct"].ok').count()).resolves.toBe(1);
    expect(keyedProxy.stats().authorized).toBe(1);
    // The page names the provider whose key to use and sends the rest as stored; it never holds the key.
    expect(JSON.parse(request.postData() ?? '{}')).toEqual({
      kind: 'openai',
      baseUrl: `${keyedProxy.url}/v1`,
      routing: 'direct',
      models: ['closed-gpt', 'closed-nocache'],
      providerId: 'closed',
    });
    await expect(page.content()).resolves.not.toContain('sk-closed-secret');
    await shot('05b-provider-edit-test');
    // A test saves nothing; a change after it hides its result (it was of other settings).
    await expect(baseUrlOfClosed()).resolves.toBe(stored);
    await form.getByLabel('Base URL').fill(`${keyedProxy.url}/v2`);
    await expect(result.count()).resolves.toBe(0);
  });

  it('Providers: once a provider is routed through the gateway as suggested, the suggestion goes', async () => {
    const admin = `${system.gatewayUrl}/api/v1/ai/admin`;
    const post = (to: string, body: unknown) =>
      fetch(`${admin}/${to}`, { method: 'POST', headers: system.headers(), body: JSON.stringify(body) });
    // On auto, the direct route (a closed port) fails while the gateway (serving sim-gpt) works: the test suggests it.
    expect((await post('gateways', { id: 'via-sim', baseUrl: `${system.sim.url}/v1` })).status).toBe(201);
    const model = { name: 'sim-gpt', promptPer1k: 0.001, completionPer1k: 0.002, contextWindow: 8192 };
    const created = await post('providers', {
      id: 'routable',
      kind: 'openai',
      baseUrl: `http://127.0.0.1:${closedPort}/v1`,
      routing: 'auto',
      gatewayId: 'via-sim',
      models: [model],
    });
    expect(created.status).toBe(201);
    try {
      await open('providers');
      const row = page.locator('tr[data-provider="routable"]');
      await row.getByRole('button', { name: 'Test connection of routable' }).click();
      const route = row.getByRole('button', { name: 'Route routable through the gateway' });
      const routeAll = page.getByRole('button', { name: 'Route all 1 suggested through the gateway' });
      await route.waitFor();
      await routeAll.waitFor();
      await route.click();
      await row.getByRole('status').filter({ hasText: 'routable now goes through the gateway.' }).waitFor();
      await row.locator('.badge.route-gateway').waitFor();
      // Done: neither the row nor the screen offers it again; the routes the test found stay on show.
      await expect(route.count()).resolves.toBe(0);
      await expect(routeAll.count()).resolves.toBe(0);
      await expect(row.locator('.test-result li[data-route="direct"].fail').count()).resolves.toBe(1);
    } finally {
      await fetch(`${admin}/providers/routable`, { method: 'DELETE', headers: system.headers() });
      await fetch(`${admin}/gateways/via-sim`, { method: 'DELETE', headers: system.headers() });
    }
  });

  it('Cache: statistics after a hit, then a model cleared', async () => {
    const ask = () =>
      fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: 'cache me once' }] }),
      });
    expect((await ask()).headers.get('x-gateway-cache')).toBe('miss');
    // The worker stores the answer after replying: the second ask hits once it is there.
    await waitFor(async () => (await ask()).headers.get('x-gateway-cache') === 'hit', {
      timeoutMs: 10_000,
      message: 'no cache hit',
    });
    await open('cache');
    await settled();
    await expect(stat('Hits').textContent()).resolves.toMatch(/^[1-9]/);
    await expect(stat('Entries').textContent()).resolves.toMatch(/^[1-9]/);
    // Which models are cached: on by default here, and not for the one whose catalog setting turns it off.
    const scope = (await page.locator('[data-cache-scope]').textContent()) ?? '';
    expect(scope).toContain('On by default');
    expect(scope).toContain('sim0/sim-gpt');
    expect(scope).not.toContain('closed/closed-nocache');
    await shot('08-cache');

    await page.getByLabel('Model to clear').selectOption('sim0/sim-gpt');
    await page.getByRole('button', { name: 'Clear model' }).click();
    // What clearing did is said in the Clear section, beside its buttons (not under Warm, at the page's end).
    const cleared = page.getByRole('region', { name: 'Clear', exact: true }).getByRole('status');
    await expect(cleared.filter({ hasText: 'Cleared' }).textContent()).resolves.toMatch(
      /Cleared sim0\/sim-gpt: [1-9]\d* entries/,
    );
    expect((await ask()).headers.get('x-gateway-cache')).toBe('miss');

    // Clear all asks first: Cancel clears nothing, "Yes, clear all" clears.
    await page.getByRole('button', { name: 'Clear all' }).click();
    const confirm = page.getByRole('group', { name: /Clear every entry/ });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Clear all' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Cache cleared' }).count()).resolves.toBe(0);
    await confirm.getByRole('button', { name: 'Yes, clear all' }).click();
    await cleared.filter({ hasText: 'Cache cleared' }).waitFor();
  });

  it('Cache: warming from a list of prompts fills the cache and says how many were warmed', async () => {
    await open('cache');
    await page.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
    await page.getByLabel('Prompts').fill('warm one\nwarm two');
    await page.getByRole('button', { name: 'Warm', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Warmed 2 of 2 prompts (0 already cached, 0 failed).' }).waitFor();
    await shot('08-cache-warm');

    // A model whose cache is off: each prompt's reason, and the screen says the cache is disabled for it.
    await page.getByLabel('Model', { exact: true }).selectOption('closed/closed-nocache');
    await page.getByLabel('Prompts').fill('never cached');
    await page.getByRole('button', { name: 'Warm', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Warmed 0 of 1 prompts (0 already cached, 1 failed).' }).waitFor();
    const failures = page.getByRole('region', { name: 'Prompts not warmed' });
    await expect(failures.locator('li[data-warm-error="cache_disabled"]').textContent()).resolves.toContain(
      'never cached',
    );
    await expect(failures.locator('[data-cache-disabled]').textContent()).resolves.toContain(
      'disabled for closed/closed-nocache',
    );
  });

  it('Cache: a warm answer skipped as cache_disabled says the model that answered has its cache off, not the one chosen', async () => {
    // The report of a warm call whose alias another model answered, whose cache is off (CacheStage.unstored), and
    // whose second answer the cache's Redis did not store.
    await page.route(
      '**/api/v1/ai/admin/cache/warm',
      (r) =>
        r.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({
            requested: 2,
            warmed: 0,
            alreadyCached: 0,
            skipped: 2,
            failed: 0,
            results: [
              { status: 'skipped', reason: 'cache_disabled' },
              { status: 'skipped', reason: 'not_stored' },
            ],
          }),
        }),
      { times: 1 },
    );
    await open('cache');
    await page.getByLabel('Model', { exact: true }).selectOption('sim0/sim-gpt');
    await page.getByLabel('Prompts').fill('answered elsewhere\nnot kept');
    await page.getByRole('button', { name: 'Warm', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Warmed 0 of 2 prompts (0 already cached, 2 not stored, 0 failed).' })
      .waitFor();
    const failures = page.getByRole('region', { name: 'Prompts not warmed' });
    const skipped = failures.locator('li[data-warm-error="cache_disabled"]');
    await expect(skipped.textContent()).resolves.toContain('answered elsewhere');
    // sim0/sim-gpt caches (CACHE_ENABLED): the reason is the model that answered, which the line must not pin on it.
    await expect(skipped.textContent()).resolves.not.toContain('off for this model');
    await expect(skipped.textContent()).resolves.toContain('the model that answered');
    await expect(failures.locator('[data-cache-disabled]').count()).resolves.toBe(0);
    await expect(failures.locator('li[data-warm-error="not_stored"]').textContent()).resolves.toContain('not kept');
  });

  it('Providers: the Kind list offers what the API accepts; a plugin asks for its module', async () => {
    await open('providers');
    const form = page.getByRole('form', { name: 'Create provider' });
    const kinds = form.getByLabel('Kind').locator('option');
    await kinds.nth(1).waitFor({ state: 'attached' });
    await expect(kinds.allTextContents()).resolves.toEqual([
      'openai',
      'anthropic',
      'gemini',
      'ollama',
      'tgi',
      'plugin',
    ]);
    await expect(form.getByLabel('Plugin module').count()).resolves.toBe(0);
    await form.getByLabel('Kind').selectOption('plugin');
    await expect(form.getByLabel('Plugin module').getAttribute('required')).resolves.not.toBeNull();
    await form.getByLabel('Kind').selectOption('openai');
    // Z.ai is a template (through the gateway), not a kind.
    await expect(form.getByLabel('Template').locator('option').allTextContents()).resolves.toContain(
      'Z.ai through the gateway',
    );
  });

  it('Providers: while the gateways cannot be loaded, Create provider says so, not that none is configured', async () => {
    await page.route('**/api/v1/ai/admin/gateways', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({
          error: {
            message: 'The database is unavailable.',
            type: 'api_error',
            code: 'service_unavailable',
            param: null,
          },
        }),
      }),
    );
    try {
      await open('providers');
      const create = page.getByRole('region', { name: 'Create provider' });
      await create.getByRole('alert').filter({ hasText: 'Gateways: The database is unavailable.' }).waitFor();
      const text = (await create.textContent()) ?? '';
      expect(text).toContain('The gateways could not be loaded');
      expect(text).not.toContain('No gateway is configured');
    } finally {
      await page.unroute('**/api/v1/ai/admin/gateways');
    }
  });

  it('Cache: while the models cannot be loaded, Clear and Warm say so with a Retry, not an empty model list', async () => {
    let refuse = true;
    await page.route('**/api/v1/ai/models', (route) =>
      refuse
        ? route.fulfill({
            status: 503,
            contentType: 'application/json',
            body: JSON.stringify({
              error: { message: 'Redis is unavailable.', type: 'api_error', code: 'service_unavailable', param: null },
            }),
          })
        : route.continue(),
    );
    try {
      await open('cache');
      const clear = page.getByRole('region', { name: 'Clear' });
      const alert = clear.getByRole('alert').filter({ hasText: 'Models: Redis is unavailable.' });
      await alert.waitFor();
      await page
        .getByRole('region', { name: 'Warm' })
        .getByRole('alert')
        .filter({ hasText: 'Redis is unavailable.' })
        .waitFor();
      refuse = false;
      await alert.getByRole('button', { name: 'Retry' }).click();
      await clear
        .getByLabel('Model to clear')
        .getByRole('option', { name: 'sim0/sim-gpt', exact: true })
        .waitFor({ state: 'attached' });
      await expect(clear.getByRole('alert').count()).resolves.toBe(0);
    } finally {
      await page.unroute('**/api/v1/ai/models');
    }
  });

  it('Providers: create one from scratch with models, prices and context window', async () => {
    await open('providers');
    const form = page.getByRole('form', { name: 'Create provider' });
    await form.getByLabel('Provider id').fill('sim0');
    await form.getByLabel('Base URL').fill(`${system.sim.url}/v1`);
    await form.getByLabel('API key').fill('sk-scratch-secret');
    await form.getByLabel('Model names').fill('sim-gpt, sim-shared');
    await form.getByLabel('Prompt $/1k tokens').fill('0.0005');
    await form.getByLabel('Completion $/1k tokens').fill('0.0015');
    await form.getByLabel('Context window (tokens)').fill('16000');
    // A taken id: the API's message...
    await form.getByRole('button', { name: 'Create provider' }).click();
    await form.getByRole('alert').waitFor();
    // ...which goes once the browser blocks the next submit (no base URL), rather than pass for its answer.
    await form.getByLabel('Base URL').fill('');
    await form.getByRole('button', { name: 'Create provider' }).click();
    await expect(form.getByRole('alert').count()).resolves.toBe(0);

    await form.getByLabel('Base URL').fill(`${system.sim.url}/v1`);
    await form.getByLabel('Provider id').fill('sim-scratch');
    await form.getByRole('button', { name: 'Create provider' }).click();
    await expect(form.getByRole('status').textContent()).resolves.toContain('Provider sim-scratch created.');
    await page.locator('tr[data-provider="sim-scratch"]').waitFor();
    // Nothing of this provider stays in the form for the next one.
    await expect(form.getByLabel('Provider id').inputValue()).resolves.toBe('');
    await expect(form.getByLabel('API key').inputValue()).resolves.toBe('');
    await expect(form.getByLabel('Model names').inputValue()).resolves.toBe('');

    const r = await fetch(`${system.gatewayUrl}/api/v1/ai/admin/providers`, { headers: system.headers() });
    const created = ((await r.json()) as { data: { id: string; models: Record<string, unknown>[] }[] }).data.find(
      (p) => p.id === 'sim-scratch',
    );
    expect(created?.models).toEqual([
      expect.objectContaining({ name: 'sim-gpt', promptPer1k: 0.0005, completionPer1k: 0.0015, contextWindow: 16000 }),
      expect.objectContaining({
        name: 'sim-shared',
        promptPer1k: 0.0005,
        completionPer1k: 0.0015,
        contextWindow: 16000,
      }),
    ]);
  });

  it('Settings: when one change is refused, the table shows those stored before it', async () => {
    const admin = `${system.gatewayUrl}/api/v1/ai/admin/providers/closed/toggle`;
    const toggle = (enabled: boolean) =>
      fetch(admin, { method: 'POST', headers: system.headers(), body: JSON.stringify({ enabled }) });
    const preferences = `${system.gatewayUrl}/api/v1/ai/preferences`;
    // A disabled provider's model cannot be preferred (409): the default is saved first, then 'writing' refused.
    expect((await toggle(false)).status).toBe(200);
    try {
      await open('settings');
      await settled();
      await page.getByLabel('Default model').selectOption('sim0/sim-gpt');
      await page.getByLabel("Model for 'writing'").selectOption('closed/closed-gpt');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('alert').filter({ hasText: 'not available' }).waitFor();
      await page.locator('tr[data-context="default"]').filter({ hasText: 'sim0/sim-gpt' }).waitFor();
      await expect(page.locator('tr[data-context="writing"]').count()).resolves.toBe(0);
    } finally {
      await fetch(preferences, { method: 'DELETE', headers: system.headers() });
      await fetch(`${preferences}/writing`, { method: 'DELETE', headers: system.headers() });
      await toggle(true);
    }
  });

  it('Settings: Reset all asks first; Cancel keeps the preferences, confirming removes them', async () => {
    const preferences = `${system.gatewayUrl}/api/v1/ai/preferences`;
    const put = await fetch(preferences, {
      method: 'PUT',
      headers: system.headers(),
      body: JSON.stringify({ provider: 'sim0', model: 'sim-gpt' }),
    });
    expect(put.ok).toBe(true);
    try {
      await open('settings');
      await settled();
      const form = page.getByRole('form', { name: 'AI preferences' });
      const row = page.locator('tr[data-context="default"]');
      await row.waitFor();
      await form.getByRole('button', { name: 'Reset all' }).click();
      const ask = form.getByRole('group', { name: /Remove all 1 stored preference\?/ });
      await ask.waitFor();
      await ask.getByRole('button', { name: 'Cancel' }).click();
      await form.getByRole('button', { name: 'Reset all' }).waitFor();
      const stored = await fetch(preferences, { headers: system.headers() }).then((r) => r.text());
      expect(stored).toContain('sim-gpt');
      await expect(row.count()).resolves.toBe(1);

      await form.getByRole('button', { name: 'Reset all' }).click();
      await form.getByRole('button', { name: 'Yes, reset all' }).click();
      await form.getByRole('status').filter({ hasText: 'Preferences reset' }).waitFor();
      await row.waitFor({ state: 'detached' });
    } finally {
      await fetch(preferences, { method: 'DELETE', headers: system.headers() });
    }
  });

  it('Settings: Enter in the new context field adds the context (as its button does), never saves the form', async () => {
    await open('settings');
    await settled();
    const form = page.getByRole('form', { name: 'AI preferences' });
    const field = form.getByLabel('New context');
    await field.fill('legal-e2e');
    await field.press('Enter');
    await form.getByLabel("Model for 'legal-e2e'").waitFor();
    await expect(field.inputValue()).resolves.toBe('');
    // A context the API would refuse is not added, and Enter does not save instead.
    await field.fill('no spaces');
    await field.press('Enter');
    await expect(field.inputValue()).resolves.toBe('no spaces');
    await expect(form.getByLabel("Model for 'no spaces'").count()).resolves.toBe(0);
    await expect(form.getByRole('status').count()).resolves.toBe(0);
  });

  it('Cache, Usage and Providers refresh their figures on their own: not while the tab is hidden, one fetch at a time', async () => {
    const { context, tab, calls } = await clockedTab('cache');
    const count = (p: string) => calls.filter((c) => c === p).length;
    const STATS = '/api/v1/ai/admin/cache/stats';
    const setHidden = (hidden: boolean) =>
      tab.evaluate((h: boolean) => {
        // The page's own globals (this function runs in the page, which the test's types do not describe).
        const win = globalThis as unknown as {
          document: { dispatchEvent(e: unknown): boolean };
          Event: new (type: string) => unknown;
        };
        const doc = win.document;
        Object.defineProperty(doc, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
        Object.defineProperty(doc, 'hidden', { configurable: true, get: () => h });
        doc.dispatchEvent(new win.Event('visibilitychange'));
      }, hidden);
    try {
      await tab.locator('[data-stat="Misses"]').waitFor();
      const misses = Number((await tab.locator('[data-stat="Misses"]').textContent())?.replace(/,/g, ''));
      // A lookup the open page has not seen: within 15 s it shows, without a click and without a loading line.
      const miss = await fetch(`${system.gatewayUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: system.headers(),
        body: JSON.stringify({ model: 'sim0/sim-gpt', messages: [{ role: 'user', content: `refresh ${Date.now()}` }] }),
      });
      expect(miss.headers.get('x-gateway-cache')).toBe('miss');
      const before = count(STATS);
      expect(await advanceUntil(tab, () => count(STATS) > before, 20_000)).toBeLessThanOrEqual(16_000);
      await tab
        .locator('[data-stat="Misses"]')
        .filter({ hasText: new RegExp(`^${(misses + 1).toLocaleString('en-US')}$`) })
        .waitFor();
      expect(count(STATS)).toBe(before + 1);

      // Hidden: no fetch however long; shown again after that long: one fetch at once.
      await setHidden(true);
      const hiddenAt = count(STATS);
      await tab.clock.runFor(60_000);
      expect(count(STATS)).toBe(hiddenAt);
      await Promise.all([tab.waitForResponse((r) => r.url().endsWith(STATS)), setHidden(false)]);
      expect(count(STATS)).toBe(hiddenAt + 1);

      // A slow answer: the next refresh waits for it instead of piling up fetches.
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      await tab.route(`**${STATS}`, async (route) => {
        await held;
        await route.continue();
      });
      await advanceUntil(tab, () => count(STATS) === hiddenAt + 2, 20_000);
      expect(count(STATS)).toBe(hiddenAt + 2);
      await tab.clock.runFor(60_000);
      expect(count(STATS)).toBe(hiddenAt + 2);
      const answered = tab.waitForResponse((r) => r.url().endsWith(STATS));
      release();
      await answered;
      await tab.unroute(`**${STATS}`);
      await advanceUntil(tab, () => count(STATS) === hiddenAt + 3, 20_000);
      expect(count(STATS)).toBe(hiddenAt + 3);

      // Usage and Providers (health, circuits) refresh too.
      for (const [screen, paths] of [
        ['usage', ['/api/v1/ai/usage']],
        ['providers', ['/api/v1/ai/admin/providers']],
      ] as const) {
        await tab.getByRole('link', { name: screen === 'usage' ? 'Usage' : 'Providers' }).click();
        await tab.locator('.state.loading').first().waitFor({ state: 'detached' });
        const at = paths.map(count);
        await advanceUntil(tab, () => paths.every((p, i) => count(p) > at[i]), 20_000);
        expect([screen, ...paths.map((p, i) => count(p) > at[i])]).toEqual([screen, ...paths.map(() => true)]);
      }
      // A screen left behind stops: back on Cache, only Cache's figures are fetched.
      await tab.getByRole('link', { name: 'Cache' }).click();
      await tab.locator('[data-stat="Misses"]').waitFor();
      const usageCalls = count('/api/v1/ai/usage');
      await tab.clock.runFor(30_000);
      expect(count('/api/v1/ai/usage')).toBe(usageCalls);
    } finally {
      await context.close();
    }
  });

  it('a refresh that comes due while a load the page started runs sends no second fetch; one follows that load', async () => {
    const { context, tab, calls } = await clockedTab('cache');
    const STATS = '/api/v1/ai/admin/cache/stats';
    const count = () => calls.filter((c) => c === STATS).length;
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    try {
      await tab.locator('[data-stat="Misses"]').waitFor();
      await tab.locator('.state.loading').first().waitFor({ state: 'detached' });
      // From here the page's clock moves only as the test moves it: the refresh timer the first load set is
      // pending, due 15 s after that load ended.
      const now = await tab.evaluate(() => Date.now());
      await tab.clock.pauseAt(now + 1_000);
      const before = count();
      // The Refresh button starts a load of the page's own, whose answer is held back.
      await tab.route(`**${STATS}`, async (route) => {
        await held;
        await route.continue();
      });
      await tab.getByRole('button', { name: 'Refresh' }).click();
      await advanceUntil(tab, () => count() === before + 1, 5_000);
      expect(count()).toBe(before + 1);
      await tab.locator('.state.loading').first().waitFor();
      // The refresh comes due while that load runs: it leaves it alone (no second fetch of the same figures).
      await tab.clock.runFor(60_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(count()).toBe(before + 1);

      // Once the load ends, one refresh follows, a full interval later.
      const answered = tab.waitForResponse((r) => r.url().endsWith(STATS));
      release();
      await answered;
      await tab.locator('.state.loading').first().waitFor({ state: 'detached' });
      await tab.unroute(`**${STATS}`);
      const waited = await advanceUntil(tab, () => count() > before + 1, 30_000);
      expect(waited).toBeGreaterThanOrEqual(15_000);
      expect(waited).toBeLessThanOrEqual(17_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(count()).toBe(before + 2);
    } finally {
      release();
      await context.close();
    }
  });

  it('fits a 375 px screen: no blank band under the nav, nothing wider than the screen', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const screen of ['playground', 'models', 'usage', 'providers', 'keys', 'cache']) {
        await open(screen);
        await settled();
        const overflow = await page
          .locator('html')
          .evaluate((html: { scrollWidth: number; clientWidth: number }) => html.scrollWidth - html.clientWidth);
        expect([screen, overflow]).toEqual([screen, 0]);
      }
      // The nav row is as tall as its links: the screen starts right under it.
      const nav = await page.getByRole('navigation', { name: 'Screens' }).boundingBox();
      const list = await page.getByRole('navigation', { name: 'Screens' }).locator('ul').boundingBox();
      expect(Math.round(nav?.height ?? 0)).toBe(Math.round(list?.height ?? -1));
      await shot('10-narrow-cache');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('Keys: past a page of keys, "Show more keys" adds the next', async () => {
    // Older than everything else, so they fill the first pages; removed after, so no other test sees them.
    await system.query(
      `INSERT INTO users (name, created_at) SELECT 'paged-' || g, '2000-01-01'::timestamptz + (g || ' seconds')::interval
         FROM generate_series(1, 1050) g`,
    );
    await system.query(
      `INSERT INTO api_keys (user_id, key_hash, prefix, created_at)
         SELECT id, md5(name) || md5(id::text), 'sk-aigw-p' || substr(md5(name), 1, 8), created_at
           FROM users WHERE name LIKE 'paged-%' ORDER BY created_at LIMIT 150`,
    );
    const asked: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/api/v1/ai/admin/keys?')) {
        asked.push(new URL(r.url()).search);
      }
    };
    page.on('request', onRequest);
    try {
      // Created last: newest first, it is on the first page, above a page and more of older keys.
      const newest = await apiKeyFor('paged-newest');
      const [{ keys }] = await system.query<{ keys: number }>('SELECT count(*)::int AS keys FROM api_keys');
      expect(keys).toBeLessThan(200);
      await open('keys');
      await settled();
      const rows = page.locator('tr[data-key-prefix]');
      await expect(rows.count()).resolves.toBe(100);
      await expect(rows.first().getAttribute('data-key-prefix')).resolves.toBe(prefixOf(newest));
      asked.length = 0;
      await page.getByRole('button', { name: 'Show more keys' }).click();
      await page.getByRole('button', { name: 'Show more keys' }).waitFor({ state: 'detached' });
      await expect(rows.count()).resolves.toBe(keys);
      // The next page only, from where the first ended: not the first page again.
      expect(asked).toHaveLength(1);
      expect(new URLSearchParams(asked[0]).get('cursor')).toEqual(expect.any(String));
      expect(new URLSearchParams(asked[0]).get('order')).toBe('desc');
      await shot('07-keys-paged');
    } finally {
      page.off('request', onRequest);
      await system.query(`DELETE FROM users WHERE name LIKE 'paged-%'`);
    }
  });

  it('Keys: a user picker finds a user past a page of users as the admin types; no list of every user is asked for', async () => {
    // Older than everything else and more than the largest page (1000): the old pickers fetched page after page.
    await system.query(
      `INSERT INTO users (name, created_at) SELECT 'crowd-' || g, '2000-01-01'::timestamptz + (g || ' seconds')::interval
         FROM generate_series(1, 1050) g`,
    );
    const [sought] = await system.query<{ id: string }>(`SELECT id FROM users WHERE name = 'crowd-1049'`);
    const usersAsked: URLSearchParams[] = [];
    const quotasAsked: string[] = [];
    const onRequest = (r: { url(): string; method(): string }) => {
      const url = new URL(r.url());
      if (r.method() === 'GET' && url.pathname === '/api/v1/ai/admin/users') {
        usersAsked.push(url.searchParams);
      } else if (url.pathname.startsWith('/api/v1/ai/admin/quotas/')) {
        quotasAsked.push(url.pathname);
      }
    };
    page.on('request', onRequest);
    try {
      await open('keys');
      await settled();
      // The screen shows without asking for any user: a picker asks once it is used.
      expect(usersAsked).toEqual([]);

      const quotas = page.getByRole('region', { name: 'Quotas' });
      const picker = quotas.getByRole('combobox', { name: 'User' });
      const found = page.getByRole('listbox', { name: 'Names found' }).getByRole('option');
      await picker.click();
      // Focused and empty: the first users only, with a word that there are more.
      await found.nth(19).waitFor();
      await expect(found.count()).resolves.toBe(20);
      await expect(quotas.getByText('type more of the name').count()).resolves.toBe(1);
      // Typed key by key, in another case: the gateway finds crowd-104 and crowd-1040 to crowd-1049, past a page.
      await picker.pressSequentially('CROWD-104');
      await found.filter({ hasText: /^crowd-1049$/ }).waitFor();
      await expect(found.allTextContents()).resolves.toEqual([
        'crowd-104',
        ...Array.from({ length: 10 }, (_, i) => `crowd-104${i}`),
      ]);
      await shot('07-keys-user-picker-open');
      await found.filter({ hasText: /^crowd-1049$/ }).click();
      await expect(picker.inputValue()).resolves.toBe('crowd-1049');
      await quotas.getByRole('form', { name: 'Quota' }).waitFor();
      expect(quotasAsked).toContain(`/api/v1/ai/admin/quotas/${sought.id}`);
      await shot('07-keys-user-picker');

      // The create-key picker by keyboard: the name, then Enter takes the first match; the key is for that user.
      const form = page.getByRole('form', { name: 'Create key' });
      const keyPicker = form.getByRole('combobox', { name: 'User' });
      await keyPicker.fill('nobody-at-all');
      await form.getByText("No user's name starts with “nobody-at-all”.").waitFor();
      await expect(form.getByRole('button', { name: 'Create key' }).isDisabled()).resolves.toBe(true);
      await keyPicker.fill('crowd-1049');
      await found.filter({ hasText: /^crowd-1049$/ }).waitFor();
      await keyPicker.press('Enter');
      await expect(keyPicker.inputValue()).resolves.toBe('crowd-1049');
      await form.getByLabel('Key name').fill('picked by typing');
      await form.getByRole('button', { name: 'Create key' }).click();
      await form.locator('input[data-new-key]').waitFor();
      const [key] = await system.query<{ user_id: string }>(
        `SELECT user_id FROM api_keys WHERE name = 'picked by typing'`,
      );
      expect(key.user_id).toBe(sought.id);

      // Every question about users was one page of at most 20, never the next page of a walk through all of them.
      expect(usersAsked.length).toBeGreaterThan(0);
      for (const asked of usersAsked) {
        expect({ limit: asked.get('limit'), cursor: asked.get('cursor') }).toEqual({ limit: '20', cursor: null });
      }
      expect(usersAsked.map((a) => a.get('q'))).toEqual(expect.arrayContaining(['CROWD-104', 'crowd-1049']));
    } finally {
      page.off('request', onRequest);
      await system.query(`DELETE FROM users WHERE name LIKE 'crowd-%'`);
    }
  });

  it('Keys: a name typed and Enter at once picks the user of that name, not the first of the list for the text before', async () => {
    // Oldest first: quick-a heads the list for 'quick-a' (a stale list's Enter took it), quick-abc the one for 'quick-ab'.
    await system.query(
      `INSERT INTO users (name, created_at)
         VALUES ('quick-a', now() - interval '2 minutes'), ('quick-abc', now() - interval '1 minute'), ('quick-ab', now())`,
    );
    const [sought] = await system.query<{ id: string }>(`SELECT id FROM users WHERE name = 'quick-ab'`);
    try {
      await open('keys');
      await settled();
      const form = page.getByRole('form', { name: 'Create key' });
      const picker = form.getByRole('combobox', { name: 'User' });
      const found = page.getByRole('listbox', { name: 'Names found' }).getByRole('option');
      await picker.fill('quick-a');
      await found.filter({ hasText: /^quick-ab$/ }).waitFor();
      await expect(found.allTextContents()).resolves.toEqual(['quick-a', 'quick-abc', 'quick-ab']);
      // The last letter and Enter in one go, as a fast typist does: the list still shows the answer for 'quick-a'. The
      // choice waits for the answer to 'quick-ab', and takes the user of that very name, not the first listed.
      await picker.press('b');
      await picker.press('Enter');
      await form.locator(`input[role="combobox"][data-user-id="${sought.id}"]`).waitFor();
      await expect(picker.inputValue()).resolves.toBe('quick-ab');
      await expect(picker.getAttribute('data-user-id')).resolves.toBe(sought.id);
    } finally {
      await system.query(`DELETE FROM users WHERE name LIKE 'quick-%'`);
    }
  });
});
