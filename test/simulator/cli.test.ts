import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, ProviderSimulator, waitFor } from '@aigw/testing';
import { chat, json, postJson } from './support';

const root = resolve(__dirname, '../..');
const run = promisify(execFile);

/**
 * Compiles only the CLI and what it imports into a temp dir (so a broken file elsewhere in the
 * tree cannot break this test, and the shared dist/ is left alone), then rewrites the @aigw/*
 * path aliases to relative requires so plain `node` can run it.
 */
async function buildCli(dir: string): Promise<string> {
  const tsconfig = join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: {
        outDir: 'out',
        rootDir: root,
        baseUrl: root,
        incremental: false,
        sourceMap: false,
        typeRoots: [join(root, 'node_modules/@types')],
      },
      include: [join(root, 'tools/simulator/**/*.ts')],
      exclude: [join(root, '**/*.spec.ts')],
    }),
  );
  await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: root });
  await run(process.execPath, [join(root, 'node_modules/tsc-alias/dist/bin/index.js'), '-p', tsconfig], { cwd: root });
  return join(dir, 'out/tools/simulator/main.js');
}

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function startCli(main: string, env: Record<string, string>, args: string[] = []): Cli {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIM_')));
  const child = spawn(process.execPath, [main, ...args], {
    // The build lives outside the repo; third-party requires resolve through NODE_PATH.
    env: { ...base, NODE_PATH: join(root, 'node_modules'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

describe('simulator CLI (tools/simulator/main.ts)', () => {
  let dir: string;
  let main: string;
  const started: Cli[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    main = await buildCli(dir);
  }, 120_000);

  afterEach(() => {
    for (const cli of started.splice(0)) {
      if (cli.child.exitCode === null && cli.child.signalCode === null) {
        cli.child.kill('SIGKILL');
      }
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a simulator banner, serves with the env config and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const cli = startCli(main, {
      SIM_PORT: String(port),
      SIM_NAME: 'cli-test',
      SIM_COMPLETION_TOKENS: '3',
      SIM_REQUIRE_AUTH: 'true',
    });
    started.push(cli);
    await waitFor(() => cli.stdout().includes('PROVIDER SIMULATOR'), {
      timeoutMs: 15_000,
      message: 'no banner from the simulator CLI',
    });
    expect(cli.stdout()).toContain('NOT a real LLM provider');
    expect(cli.stdout()).toContain(`http://127.0.0.1:${port}/v1`);

    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    expect((await postJson(url, chat())).status).toBe(401);
    const ok = await postJson(url, chat(), { authorization: 'Bearer sk-cli' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-simulator-name')).toBe('cli-test');
    expect(json<{ usage: { completion_tokens: number } }>(ok).usage.completion_tokens).toBe(3);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toContain('stopped');
  }, 30_000);

  it('exits 1 naming every bad variable, without starting', async () => {
    const cli = startCli(main, { SIM_PORT: 'ninety', SIM_FAIL_RATE: '2', SIM_FAIL_MODE: 'explode' });
    started.push(cli);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toMatch(/SIM_PORT: .*"ninety"/);
    expect(cli.stderr()).toMatch(/SIM_FAIL_RATE: /);
    expect(cli.stderr()).toMatch(/SIM_FAIL_MODE: /);
    expect(cli.stdout()).not.toContain('PROVIDER SIMULATOR');
  }, 30_000);

  it('prints its usage for --help and exits 0, without starting (it started a server on port 9100)', async () => {
    const port = await freePort();
    const cli = startCli(main, { SIM_PORT: String(port) }, ['--help']);
    started.push(cli);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toMatch(/^Usage: npm run simulator/);
    expect(cli.stdout()).toContain('SIM_FAIL_RATE');
    expect(cli.stdout()).not.toContain('PROVIDER SIMULATOR');
    expect(cli.stderr()).toBe('');
  }, 30_000);

  it('exits 2 for an argument it does not take, with the usage, without starting', async () => {
    const port = await freePort();
    const cli = startCli(main, { SIM_PORT: String(port) }, ['--port', '9200']);
    started.push(cli);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr()).toContain("provider simulator: unexpected argument '--port'");
    expect(cli.stderr()).toContain('Usage: npm run simulator');
    expect(cli.stdout()).not.toContain('PROVIDER SIMULATOR');
  }, 30_000);

  it('exits 1 with a clear message when the port is taken', async () => {
    const holder = new ProviderSimulator();
    await holder.start();
    try {
      const cli = startCli(main, { SIM_PORT: String(holder.port) });
      started.push(cli);
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toContain(`cannot listen on 127.0.0.1:${holder.port}`);
      expect(cli.stderr()).toContain('EADDRINUSE');
    } finally {
      await holder.stop();
    }
  }, 30_000);
});
