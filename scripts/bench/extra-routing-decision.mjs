// Routing decision time over a catalog of 50 deployments: filtering + policy ordering (pure, in
// process), and the same with the circuit-breaker read of every candidate from the bench's Redis
// (one pipelined round trip), which is what a worker does before its first provider call.
import path from 'node:path';
import { createRequire } from 'node:module';

const ITERATIONS = 20_000;
const WITH_REDIS = 3_000;
const POLICIES = ['cost', 'latency', 'quality', 'round-robin', 'preference'];

function catalog() {
  const providers = [];
  for (let p = 0; p < 10; p++) {
    const models = [];
    for (let m = 0; m < 5; m++) {
      models.push({
        name: `model-${m}`,
        promptPer1k: 0.0005 * (1 + ((p * 7 + m * 3) % 11)),
        completionPer1k: 0.001 * (1 + ((p * 5 + m) % 13)),
        contextWindow: 8192 * (1 + (m % 4)),
        capabilities: ['chat', 'streaming'],
        quality: ((p + m) % 10) / 10,
        enabled: true,
      });
    }
    providers.push({
      id: `p${p}`,
      kind: 'openai',
      baseUrl: `http://127.0.0.1:1/v1`,
      enabled: true,
      timeoutMs: 1000,
      maxConnections: 1,
      routing: 'direct',
      models,
    });
  }
  return { providers, gateways: [] };
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const us = (ms) => (ms * 1000).toFixed(1);

export const routingDecisionBench = {
  id: 'routing-decision',
  title: 'Routing decision time (50 deployments)',
  enabled: (opts) => !opts.standIn,
  async run(ctx) {
    const { sys, log } = ctx;
    const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
    const require = createRequire(path.join(root, 'package.json'));
    const core = require(path.join(root, 'dist/libs/core/src'));
    const routing = require(path.join(root, 'dist/libs/routing/src'));
    const { Redis } = require('ioredis');
    const deployments = core.deploymentsOf(catalog());
    const ids = deployments.map((d) => d.id);
    const latency = new Map(ids.map((id, i) => [id, 100 + ((i * 37) % 400)]));
    const estimate = { promptTokens: 800, completionTokens: 256 };
    const need = { model: 'auto', stream: false, estimatedTokens: 1100 };
    const prefs = { context: 'p3/model-2', userDefault: 'model-4', systemDefault: undefined };
    const decide = (policy, states, i) => {
      const sel = core.filterCandidates(deployments, need, (id) => states?.get(id)?.available === false);
      return core.orderCandidates(policy, sel.candidates, {
        estimate,
        latencyMs: latency,
        historicalLatencyMs: new Map(),
        roundRobinCounter: i,
        preferences: prefs,
        pinnedId: null,
      });
    };
    const rows = [];
    for (const policy of POLICIES) {
      for (let i = 0; i < 2000; i++) {
        decide(policy, null, i); // warm-up: JIT
      }
      const times = new Float64Array(ITERATIONS);
      for (let i = 0; i < ITERATIONS; i++) {
        const t0 = performance.now();
        const order = decide(policy, null, i);
        times[i] = performance.now() - t0;
        if (order.length !== 50) {
          throw new Error(`routing-decision: ${policy} ordered ${order.length} of 50 deployments`);
        }
      }
      times.sort();
      rows.push(`| ${policy} | pure | ${us(percentile(times, 0.5))} | ${us(percentile(times, 0.99))} |`);
    }
    const redis = new Redis(sys.redisUrl, { lazyConnect: false, enableAutoPipelining: true });
    try {
      const store = new routing.CircuitBreakerStore(
        redis,
        routing.routingKeyPrefix('routing-bench'),
        core.DEFAULT_CIRCUIT_CONFIG,
      );
      for (let i = 0; i < 200; i++) {
        decide('cost', await store.states(ids), i);
      }
      const times = new Float64Array(WITH_REDIS);
      for (let i = 0; i < WITH_REDIS; i++) {
        const t0 = performance.now();
        decide('cost', await store.states(ids), i);
        times[i] = performance.now() - t0;
      }
      times.sort();
      rows.push(
        `| cost | + breaker states of all 50 from Redis (one pipelined round trip) | ${us(percentile(times, 0.5))} | ${us(percentile(times, 0.99))} |`,
      );
    } finally {
      redis.disconnect();
    }
    log('routing-decision: done');
    return [
      `Catalog of 50 deployments (10 providers × 5 models), model \`auto\` (all 50 are candidates),`,
      `${ITERATIONS} decisions per policy in one process after a warm-up; the breaker row reads the state of`,
      `all 50 circuits from the bench's Redis first, as a worker does. The bench's load is idle meanwhile.`,
      '',
      '| policy | what | p50 µs | p99 µs |',
      '|---|---|---:|---:|',
      ...rows,
    ].join('\n');
  },
};
