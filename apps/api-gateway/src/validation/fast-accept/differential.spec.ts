import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { GatewayError } from '@aigw/core';
import { MessagesDto } from '../../anthropic/messages.dto';
import { EmbeddingsDto } from '../../embeddings/embeddings.dto';
import { GenerateDto } from '../../native/generate.dto';
import { ChatCompletionDto } from '../../openai/chat-completion.dto';
import { unknownFieldError } from '../known-fields';
import { assertObjectBody, REQUEST_VALIDATION_OPTIONS, RequestValidationPipe } from '../validation-pipe';
import { FastAccept } from './fast-accept';

/*
 * The fast path against the usual one (Nest's ValidationPipe with the same options) over (a) every body the
 * integration suites send to these endpoints (test-suite-bodies.json, from scripts/validation/capture-bodies.mjs)
 * and (b) mutations of them and of richer seeds. For each body: the fast path never accepts what the usual
 * path rejects; when it accepts, the DTO is the same to the last prototype, key order and -0, shares no object
 * with the body, and the body is left as the usual path leaves it; it refuses a body the usual path accepts
 * only when the body holds a key that path strips (`constructor`, `__proto__`, `prototype`, `toString`, ...);
 * and the gateway's pipe answers exactly as the usual path (value or error). VALIDATION_CORPUS_SCALE=N runs
 * N times as many mutations.
 */

type Dto = new () => object;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

type Endpoint = 'chatCompletions' | 'messages' | 'embeddings' | 'generate';

const SCALE = Number(process.env.VALIDATION_CORPUS_SCALE ?? '1');
const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(__dirname, file), 'utf8')) as T;
/** Captured from the integration suites by scripts/validation/capture-bodies.mjs. */
const SUITE_BODIES = readJson<Record<Endpoint, Json[]>>('test-suite-bodies.json');
/** Richer bodies (tools, parts, formats, unicode), and `raw`: texts whose parse JSON.stringify cannot give. */
const SEEDS = readJson<Record<Endpoint, Json[]> & { raw: string[] }>('seeds.json');
const STRIPPED_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

// --- comparing outcomes ---------------------------------------------------------------------------------

/** The first difference between two values (prototypes, own keys in order, Object.is), or null. */
function difference(a: unknown, b: unknown, at = '$'): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b) ? null : `${at}: ${String(a)} vs ${String(b)}`;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) {
    return `${at}: prototype ${a.constructor?.name} vs ${b.constructor?.name}`;
  }
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  if (ka.join('\u0001') !== kb.join('\u0001')) {
    return `${at}: keys [${ka.map(String).join(',')}] vs [${kb.map(String).join(',')}]`;
  }
  for (const k of ka) {
    const d = difference(
      (a as Record<PropertyKey, unknown>)[k],
      (b as Record<PropertyKey, unknown>)[k],
      `${at}.${String(k)}`,
    );
    if (d !== null) {
      return d;
    }
  }
  return null;
}

function objectsIn(v: unknown, into = new Set<object>()): Set<object> {
  if (typeof v === 'object' && v !== null && !into.has(v)) {
    into.add(v);
    Object.values(v).forEach((child) => objectsIn(child, into));
  }
  return into;
}

function shares(a: unknown, b: unknown): boolean {
  const inB = objectsIn(b);
  return [...objectsIn(a)].some((o) => inB.has(o));
}

function hasStrippedKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) {
    return false;
  }
  return Object.keys(v).some((k) => STRIPPED_KEYS.has(k) || hasStrippedKey((v as Record<string, unknown>)[k]));
}

function errorView(e: unknown): unknown {
  return e instanceof GatewayError ? { status: e.status, body: e.toBody() } : { thrown: String(e) };
}

async function outcome(pipe: ValidationPipe, metatype: Dto, body: unknown): Promise<Outcome> {
  const metadata: ArgumentMetadata = { type: 'body', metatype, data: undefined };
  try {
    return { ok: true, value: await pipe.transform(body, metadata) };
  } catch (error) {
    return { ok: false, error: errorView(error) };
  }
}

interface Tally {
  accepted: number;
  rejected: number;
  refusedValid: number;
  problems: string[];
}

/**
 * The gateway's pipe without the fast path: the body check, the unknown fields of `@KnownFieldsOnly()` classes,
 * then Nest's ValidationPipe.
 */
class UsualPipe extends ValidationPipe {
  constructor() {
    super(REQUEST_VALIDATION_OPTIONS);
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    assertObjectBody(value, metadata);
    const unknown = unknownFieldError(metadata.metatype, value);
    if (unknown !== null) {
      throw unknown;
    }
    return super.transform(value, metadata);
  }
}

const fast = new FastAccept();
const usual = new UsualPipe();
const gatewayPipe = new RequestValidationPipe();

async function compare(metatype: Dto, text: string, tally: Tally): Promise<void> {
  const [forFast, forUsual, forPipe] = [JSON.parse(text), JSON.parse(text), JSON.parse(text)] as unknown[];
  const accepted = fast.accept(metatype, forFast);
  const reference = await outcome(usual, metatype, forUsual);
  const piped = await outcome(gatewayPipe, metatype, forPipe);
  const problem = (what: string): void => void tally.problems.push(`${what}: ${text.slice(0, 300)}`);
  if (reference.ok) {
    tally.accepted++;
  } else {
    tally.rejected++;
  }
  if (accepted !== undefined) {
    if (!reference.ok) {
      problem(`fast path accepted a body the pipe rejects (${JSON.stringify(reference.error)})`);
      return;
    }
    const d = difference(accepted, reference.value) ?? difference(forFast, forUsual);
    if (d !== null) {
      problem(`results differ at ${d}`);
    }
    if (shares(accepted, forFast)) {
      problem('the fast DTO shares an object with the body');
    }
  } else if (reference.ok) {
    tally.refusedValid++;
    if (!hasStrippedKey(JSON.parse(text))) {
      problem('fast path refused a valid body without a stripped key');
    }
  }
  const pd = reference.ok && piped.ok ? difference(piped.value, reference.value) : difference(piped, reference);
  if (pd !== null && JSON.stringify(piped) !== JSON.stringify(reference)) {
    problem(`the gateway pipe answers differently (${pd})`);
  }
}

// --- mutations ------------------------------------------------------------------------------------------

/** Deterministic, so a failure reproduces. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  0.5,
  1.5,
  2,
  2.0000001,
  -2,
  -2.0000001,
  3,
  20,
  21,
  100,
  100.5,
  -101,
  128,
  1023,
  1024,
  1e21,
  -1e21,
  1e-9,
  2 ** 53 + 2,
  '',
  ' ',
  'x',
  'auto',
  'none',
  'required',
  'function',
  'custom',
  'user',
  'assistant',
  'tool',
  'system',
  'text',
  'json_schema',
  'float',
  'cost',
  'high',
  'ü日本語🎉\u0000',
  'a'.repeat(65),
  [],
  [null],
  [1, 2],
  ['a'],
  [{}],
  [[1]],
  {},
  { a: 1 },
  { type: 'text', text: 'x' },
  { type: 'function', function: { name: 'f' } },
  { type: 'object', properties: {} },
];
const EXTRA_KEYS = ['extra', 'toString', 'constructor', 'prototype', '__proto__', 'valueOf', '0', 'type', 'name'];

type Path = (string | number)[];

function nodes(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) {
    v.forEach((child, i) => nodes(child, [...at, i], out));
  } else if (typeof v === 'object' && v !== null) {
    Object.entries(v).forEach(([k, child]) => nodes(child, [...at, k], out));
  }
  return out;
}

function clone(v: Json): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

/** Sets an own key (also `__proto__`, which plain assignment would take as the prototype). */
function put(target: Record<string, Json> | Json[], key: string | number, value: Json | undefined): void {
  if (Array.isArray(target) && typeof key === 'number') {
    if (value === undefined) {
      target.splice(key, 1);
    } else {
      target[key] = value;
    }
  } else if (value === undefined) {
    delete (target as Record<string, Json>)[key];
  } else {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  }
}

/** A copy of `body` with the node at `at` replaced by `value` (undefined: removed). */
function withNode(body: Json, at: Path, value: Json | undefined): Json {
  if (at.length === 0) {
    return value === undefined ? {} : value;
  }
  const copy = clone(body);
  let parent = copy as Record<string, Json> | Json[];
  for (const step of at.slice(0, -1)) {
    parent = (parent as Record<string | number, Json>)[step] as Record<string, Json> | Json[];
  }
  put(parent, at[at.length - 1], value);
  return copy;
}

function neighbours(v: Json): Json[] {
  if (typeof v === 'number') {
    return [v + 1, v - 1, v + 0.5, -v, v * 1000, Math.floor(v / 2)];
  }
  if (typeof v === 'string') {
    return [`${v} `, v.toUpperCase(), `${v}-x`, v.slice(1), v.repeat(3)];
  }
  if (typeof v === 'boolean') {
    return [!v, String(v), v ? 1 : 0];
  }
  return [];
}

/** The mutations of the node at `at`: removed, replaced (neighbouring and odd values), extra keys or items. */
function mutationsAt(body: Json, at: Path): Json[] {
  const node = at.reduce<Json>((v, step) => (v as Record<string | number, Json>)[step], body);
  const out = [...neighbours(node), ...ODD_VALUES].map((v) => withNode(body, at, v));
  if (at.length > 0) {
    out.push(withNode(body, at, undefined));
  }
  if (Array.isArray(node)) {
    out.push(withNode(body, at, [...node, ...node]));
    out.push(
      withNode(
        body,
        at,
        Array.from({ length: 129 }, () => node[0] ?? null),
      ),
    );
  } else if (typeof node === 'object' && node !== null) {
    for (const key of EXTRA_KEYS) {
      for (const v of [null, 1, 'x', {}] as Json[]) {
        const copy = clone(node);
        put(copy as Record<string, Json>, key, v);
        out.push(withNode(body, at, copy));
      }
    }
  }
  return out;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

function sample<T>(items: T[], n: number, random: () => number): T[] {
  if (items.length <= n) {
    return items;
  }
  const picked = [...items];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (picked.length - i));
    [picked[i], picked[j]] = [picked[j], picked[i]];
  }
  return picked.slice(0, n);
}

/** Bodies as JSON text: each seed, up to `perSeed` of its single mutations, `doubles` double mutations. */
function corpus(seeds: Json[], perSeed: number, doubles: number, seed: number): string[] {
  const random = prng(seed);
  const out = new Set<string>(seeds.map((s) => JSON.stringify(s)));
  const singles: Json[] = [];
  for (const s of seeds) {
    const all = nodes(s).flatMap((at) => mutationsAt(s, at));
    const mutations = sample(all, Math.round(perSeed * SCALE), random);
    mutations.forEach((m) => out.add(JSON.stringify(m)));
    singles.push(...mutations);
  }
  for (let i = 0; i < doubles * SCALE && singles.length > 0; i++) {
    const base = pick(singles, random);
    out.add(JSON.stringify(pick(mutationsAt(base, pick(nodes(base), random)), random)));
  }
  return [...out];
}

// --- the suites -----------------------------------------------------------------------------------------

const DTOS: Record<Endpoint, Dto> = {
  chatCompletions: ChatCompletionDto,
  messages: MessagesDto,
  embeddings: EmbeddingsDto,
  generate: GenerateDto,
};
const ENDPOINTS = (Object.keys(DTOS) as Endpoint[]).map((name) => ({
  name,
  dto: DTOS[name],
  fixtures: SUITE_BODIES[name],
  seeds: SEEDS[name],
}));

async function run(dto: Dto, bodies: string[]): Promise<Tally> {
  const tally: Tally = { accepted: 0, rejected: 0, refusedValid: 0, problems: [] };
  for (const text of bodies) {
    await compare(dto, text, tally);
  }
  return tally;
}

describe.each(ENDPOINTS)('fast validation path, $name', ({ dto, fixtures, seeds }) => {
  it('agrees with the ValidationPipe on every body the test suites send', async () => {
    expect(fixtures.length).toBeGreaterThan(0);
    const tally = await run(
      dto,
      fixtures.map((b) => JSON.stringify(b)),
    );
    expect(tally.problems).toEqual([]);
    expect(tally.accepted).toBeGreaterThan(0);
  });

  it('agrees on seeds and their mutations (types, missing and extra fields, boundaries, nesting)', async () => {
    const bodies = corpus([...seeds, ...fixtures], 15, 150, 13);
    const rich = corpus(seeds, 400, 400, 31);
    const tally = await run(dto, [...new Set([...bodies, ...rich])]);
    expect(tally.problems).toEqual([]);
    // Both sides of the line are exercised, and the fast path is refused only for stripped keys.
    expect(tally.accepted).toBeGreaterThan(100);
    expect(tally.rejected).toBeGreaterThan(100);
  });
});

describe('fast validation path, bodies only JSON text can make', () => {
  it.each(SEEDS.raw)('agrees on %s', async (text) => {
    for (const { dto } of ENDPOINTS) {
      const tally = await run(dto, [text]);
      expect(tally.problems).toEqual([]);
    }
  });
});
