import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..');

/**
 * What an app's module graph loads, read in a fresh Node process from the built app (the decorators run as the
 * classes are defined, so loading the root module is enough): the packages under node_modules it pulled in.
 * Every library a process loads stays in its heap for good (V8 keeps the source text), so one an app does not use
 * is memory the whole deployment pays once per replica.
 */
async function packagesLoadedBy(moduleFile: string): Promise<Set<string>> {
  const file = path.join(ROOT, 'dist', moduleFile);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: build first (npm run build)`);
  }
  const script = `
require('reflect-metadata');
require(${JSON.stringify(file)});
const names = Object.keys(require.cache)
  .map((f) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f))
  .filter(Boolean)
  .map((m) => m[1]);
process.stdout.write(JSON.stringify([...new Set(names)]));
`;
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: ROOT, timeout: 30_000 });
  return new Set(JSON.parse(stdout) as string[]);
}

/** Libraries only the api-gateway uses: its OpenAPI document, Swagger UI and the queue board. */
const GATEWAY_ONLY = ['@nestjs/swagger', 'swagger-ui-dist', 'class-validator-jsonschema', '@bull-board/api', 'ejs'];

describe('libraries each process loads', () => {
  it.each([
    ['router-worker', 'apps/router-worker/src/router-worker.module.js'],
    ['health-monitor', 'apps/health-monitor/src/health-monitor.module.js'],
  ])('the %s loads none of the api-gateway-only libraries', async (_app, file) => {
    const loaded = await packagesLoadedBy(file);
    // Sanity: the probe sees the graph at all.
    expect(loaded.has('@nestjs/core')).toBe(true);
    expect(GATEWAY_ONLY.filter((p) => loaded.has(p))).toEqual([]);
  });

  it('the api-gateway loads no HTTP client of the provider adapters and no tokenizer at boot', async () => {
    const loaded = await packagesLoadedBy('apps/api-gateway/src/app.module.js');
    expect(loaded.has('@nestjs/swagger')).toBe(true);
    expect(['undici', 'js-tiktoken'].filter((p) => loaded.has(p))).toEqual([]);
  });
});
