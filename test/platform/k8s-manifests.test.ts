import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, QueueName } from '@aigw/core';
import { bullOptions, RedisKeys, shutdownBudget } from '@aigw/platform';
import { TEST_REDIS_URL, uniqueId } from '@aigw/testing';

/**
 * The Kubernetes manifests as an operator applies them (`kubectl apply -k k8s/`): what they promise about rollouts,
 * scaling and secrets, checked without a cluster.
 */
const K8S = join(__dirname, '../../k8s');

interface Doc {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

interface Container {
  name: string;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  readinessProbe?: { httpGet?: { path?: string } };
  livenessProbe?: { httpGet?: { path?: string } };
}

function docs(file: string): Doc[] {
  return loadAll(readFileSync(join(K8S, file), 'utf8')).filter((d): d is Doc => d !== null && d !== undefined);
}

const kustomization = docs('kustomization.yaml')[0] as unknown as { resources: string[] };
const applied = kustomization.resources.flatMap(docs);

interface ScaledObjectSpec {
  minReplicaCount: number;
  maxReplicaCount: number;
  fallback?: { failureThreshold: number; replicas: number; behavior?: string };
  advanced?: { scalingModifiers?: { formula: string; target: string; metricType?: string } };
  triggers: {
    type: string;
    name?: string;
    metricType?: string;
    authenticationRef?: { name: string };
    metadata: Record<string, string>;
  }[];
}

/**
 * The replica count KEDA and the HPA it makes ask for, given how many jobs each trigger's key holds (by the key's
 * BullMQ state: `active`, `wait`, ...). Without scalingModifiers every trigger is its own `AverageValue` metric and
 * the HPA takes the largest count any asks for; with them, one composite metric, the formula's value over `target`.
 * The formula is read as a sum of trigger names, the only kind this deployment uses.
 */
function kedaReplicas(spec: ScaledObjectSpec, jobs: Record<string, number>): number {
  const count = (trigger: ScaledObjectSpec['triggers'][number]): number =>
    jobs[trigger.metadata.listName.split(':').at(-1) ?? ''] ?? 0;
  const modifiers = spec.advanced?.scalingModifiers;
  let wanted: number;
  if (modifiers === undefined) {
    // KEDA's redis scaler: listLength defaults to 5.
    wanted = Math.max(...spec.triggers.map((t) => Math.ceil(count(t) / Number(t.metadata.listLength ?? 5))));
  } else {
    const terms = modifiers.formula.split('+').map((term) => term.trim());
    const value = terms.reduce((sum, name) => {
      const trigger = spec.triggers.find((t) => t.name === name);
      if (trigger === undefined) {
        throw new Error(`the formula names no trigger ${name}`);
      }
      return sum + count(trigger);
    }, 0);
    wanted = Math.ceil(value / Number(modifiers.target));
  }
  return Math.min(spec.maxReplicaCount, Math.max(spec.minReplicaCount, wanted));
}

function deployment(name: string): { spec: { replicas?: number; template: { spec: Record<string, unknown> } } } {
  const d = applied.find((x) => x.kind === 'Deployment' && x.metadata.name === name);
  if (d === undefined) {
    throw new Error(`no Deployment ${name}`);
  }
  return d as unknown as { spec: { replicas?: number; template: { spec: Record<string, unknown> } } };
}

describe('k8s manifests', () => {
  it('apply every listed file and never the Secret template (it would overwrite the real Secret)', () => {
    for (const file of kustomization.resources) {
      expect(existsSync(join(K8S, file))).toBe(true);
    }
    expect(applied.filter((d) => d.kind === 'Secret')).toEqual([]);
  });

  it('leave the replica count of autoscaled Deployments to their autoscaler', () => {
    const scaled = applied
      .filter((d) => d.kind === 'HorizontalPodAutoscaler' || d.kind === 'ScaledObject')
      .map((d) => (d.spec?.scaleTargetRef as { name: string }).name);
    expect(scaled.sort()).toEqual(['api-gateway', 'router-worker']);
    for (const name of scaled) {
      expect(deployment(name).spec.replicas).toBeUndefined();
    }
  });

  it('keep the gateway accepting while its endpoints go, and give every app its grace after that', () => {
    const config = applied.find((d) => d.kind === 'ConfigMap')?.data ?? {};
    const graceS = Number(config.SHUTDOWN_GRACE_MS ?? 25_000) / 1000;
    for (const name of ['api-gateway', 'router-worker', 'health-monitor']) {
      const pod = deployment(name).spec.template.spec;
      const [container] = pod.containers as Container[];
      const preStop = container.lifecycle?.preStop?.exec?.command;
      const preStopS = preStop === undefined ? 0 : Number(preStop[1]);
      if (name === 'api-gateway') {
        expect(preStop).toEqual(['sleep', '5']);
      }
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopS + graceS);
      expect(container.livenessProbe?.httpGet?.path).toBe('/health/live');
    }
  });

  it('let a scale-in or a rollout finish every request in flight: the drain covers the request deadline', () => {
    const config = applied.find((d) => d.kind === 'ConfigMap')?.data ?? {};
    const { drainMs } = shutdownBudget(Number(config.SHUTDOWN_GRACE_MS ?? 25_000));
    // Autoscalers scale in routinely: a generation still running when its gateway or worker pod stops was cut with
    // a 503 (a stream: an error event mid-answer) once the drain ran out, 23 s into a 120 s deadline.
    expect(drainMs).toBeGreaterThanOrEqual(Number(config.REQUEST_TIMEOUT_MS ?? 120_000));
  });

  it('migrate in an init container, outside the startupProbe, and start the apps only on a migrated schema', () => {
    for (const name of ['api-gateway', 'router-worker', 'health-monitor']) {
      const pod = deployment(name).spec.template.spec as {
        initContainers?: { name: string; image: string; args: string[]; envFrom: unknown }[];
        containers: { image: string; env?: { name: string; value: string }[]; envFrom: unknown }[];
      };
      const [app] = pod.containers;
      const migrate = pod.initContainers?.find((c) => c.name === 'migrate');
      // An upgrade's migration may run for minutes (the usage rollups' backfill reads every usage record): behind
      // the app's startupProbe (2 min) the pod was restarted mid-way, the migration rolled back and begun again.
      expect(migrate).toMatchObject({
        image: app.image,
        args: ['node', 'dist/libs/entities/src/cli/migrate.js'],
        envFrom: app.envFrom,
      });
      expect(app.env).toContainEqual({ name: 'DB_SKIP_MIGRATIONS', value: 'true' });
    }
  });

  it("keep a gateway pod ready through a Redis or PostgreSQL outage: its 503s beat the Service's refused connections", () => {
    const readiness = (name: string): string | undefined =>
      (deployment(name).spec.template.spec.containers as Container[])[0].readinessProbe?.httpGet?.path;
    expect(readiness('api-gateway')).toBe('/health/live');
    expect(readiness('router-worker')).toBe('/health/ready');
    expect(readiness('health-monitor')).toBe('/health/ready');
  });

  it('turn only variables into environment variables (envFrom takes every key of its ConfigMaps)', () => {
    for (const name of ['api-gateway', 'router-worker', 'health-monitor']) {
      const [container] = deployment(name).spec.template.spec.containers as {
        envFrom?: { configMapRef?: { name: string } }[];
      }[];
      for (const ref of container.envFrom ?? []) {
        if (ref.configMapRef === undefined) {
          continue;
        }
        const map = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === ref.configMapRef?.name);
        expect(Object.keys(map?.data ?? {}).filter((k) => !/^[A-Z][A-Z0-9_]*$/.test(k))).toEqual([]);
      }
    }
    const catalog = applied.find((d) => d.kind === 'ConfigMap' && d.data?.['providers.yaml'] !== undefined);
    expect(catalog?.metadata.name).toBe('ai-gateway-catalog');
  });

  it('run every container as a user other than root, unable to gain privileges, on a read-only root filesystem', () => {
    interface Security {
      runAsNonRoot?: boolean;
      runAsUser?: number;
      readOnlyRootFilesystem?: boolean;
      allowPrivilegeEscalation?: boolean;
    }
    type PodSpec = { securityContext?: Security; containers: { name: string; securityContext?: Security }[] };
    const workloads = applied.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
    expect(workloads.map((d) => d.metadata.name).sort()).toEqual([
      'api-gateway',
      'health-monitor',
      'redis',
      'router-worker',
    ]);
    for (const workload of workloads) {
      const pod = (workload.spec as { template: { spec: PodSpec & { initContainers?: PodSpec['containers'] } } })
        .template.spec;
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        const security = { ...pod.securityContext, ...container.securityContext };
        expect({ workload: workload.metadata.name, container: container.name, ...security }).toMatchObject({
          runAsNonRoot: true,
          runAsUser: expect.any(Number),
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        });
        expect(security.runAsUser).not.toBe(0);
      }
    }
  });

  it('pass the restricted Pod Security Standard, which their namespace enforces, and mount no API token', () => {
    // A cluster (or a namespace) enforcing `restricted`, the hardened profile, refuses a pod whose containers keep
    // the runtime's default capabilities or run without a seccomp profile: the Deployments' ReplicaSets then create
    // no pod at all ("violates PodSecurity restricted:latest"), only events. The namespace asks for it itself, so a
    // change that breaks it fails at the apply, not silently on the clusters that enforce it.
    interface Security {
      runAsNonRoot?: boolean;
      runAsUser?: number;
      allowPrivilegeEscalation?: boolean;
      privileged?: boolean;
      capabilities?: { drop?: string[]; add?: string[] };
      seccompProfile?: { type: string };
    }
    type Container = { name: string; securityContext?: Security; ports?: { hostPort?: number }[] };
    type PodSpec = {
      securityContext?: Security;
      containers: Container[];
      initContainers?: Container[];
      volumes?: Record<string, unknown>[];
      hostNetwork?: boolean;
      hostPID?: boolean;
      hostIPC?: boolean;
      automountServiceAccountToken?: boolean;
    };
    const namespace = applied.find((d) => d.kind === 'Namespace') as unknown as {
      metadata: { labels?: Record<string, string> };
    };
    expect(namespace.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    const workloads = applied.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
    expect(workloads.length).toBe(4);
    for (const workload of workloads) {
      const pod = (workload.spec as { template: { spec: PodSpec } }).template.spec;
      const where = { workload: workload.metadata.name };
      expect({ ...where, hostNetwork: pod.hostNetwork, hostPID: pod.hostPID, hostIPC: pod.hostIPC }).toEqual(where);
      const volumeTypes = (pod.volumes ?? []).flatMap((v) => Object.keys(v).filter((k) => k !== 'name'));
      expect(
        volumeTypes.filter((t) => !['configMap', 'secret', 'emptyDir', 'persistentVolumeClaim'].includes(t)),
      ).toEqual([]);
      // None of them calls the Kubernetes API: its token would only be one more credential in each pod.
      expect({ ...where, automount: pod.automountServiceAccountToken }).toEqual({ ...where, automount: false });
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        const security = { ...pod.securityContext, ...container.securityContext };
        expect({ ...where, container: container.name, ...security }).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: expect.stringMatching(/^(RuntimeDefault|Localhost)$/) },
        });
        expect(security.privileged).not.toBe(true);
        expect(security.runAsUser).not.toBe(0);
        expect((security.capabilities?.add ?? []).filter((c) => c !== 'NET_BIND_SERVICE')).toEqual([]);
        expect((container.ports ?? []).filter((p) => p.hostPort !== undefined)).toEqual([]);
      }
    }
  });

  it("scale workers on this deployment's queue, in the Redis of the Secret, with its password", () => {
    const config = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ai-gateway-config')?.data ?? {};
    const scaled = applied.find((d) => d.kind === 'ScaledObject')?.spec as unknown as ScaledObjectSpec;
    const secret = (docs('secret.example.yaml')[0] as unknown as { stringData: Record<string, string> }).stringData;
    const url = new URL(secret.REDIS_URL);
    const list = (state: string) =>
      scaled.triggers.find((t) => t.metadata.listName === `{${config.REDIS_PREFIX}}:generation:${state}`);
    // The jobs the workers run, not only those waiting: the wait list is empty while the workers keep up, and on
    // it alone a busy fleet would be scaled in to minReplicaCount. Aim below WORKER_CONCURRENCY, or never scale out
    // before every worker is full.
    expect(list('active')).toBeDefined();
    expect(list('wait')).toBeDefined();
    expect(Number(scaled.advanced?.scalingModifiers?.target)).toBeLessThan(Number(config.WORKER_CONCURRENCY ?? 256));
    expect(scaled.triggers).toHaveLength(4);
    for (const trigger of scaled.triggers) {
      expect(trigger.type).toBe('redis');
      expect(Object.keys(trigger.metadata).filter((k) => /^(address|host|port|password)/i.test(k))).toEqual([]);
      // The example Secret's index is REDIS_URL's.
      expect(trigger.metadata.databaseIndex).toBe(url.pathname.replace('/', '') || '0');
      expect(trigger.metadata.enableTLS).toBe(String(url.protocol === 'rediss:'));
      const auth = applied.find(
        (d) => d.kind === 'TriggerAuthentication' && d.metadata.name === trigger.authenticationRef?.name,
      )?.spec as { secretTargetRef: { parameter: string; name: string; key: string }[] };
      expect(auth.secretTargetRef.map((r) => r.parameter).sort()).toEqual(['address', 'password']);
      for (const ref of auth.secretTargetRef) {
        expect(ref.name).toBe('ai-gateway-secrets');
        expect(Object.keys(secret)).toContain(ref.key);
      }
    }
    // The example Secret's address is REDIS_URL's.
    expect(secret.REDIS_ADDRESS).toBe(`${url.hostname}:${url.port || '6379'}`);
  });

  it('scale workers on the sum of the jobs running and waiting, whichever key holds them (KEDA takes the max of separate triggers)', () => {
    const config = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ai-gateway-config')?.data ?? {};
    const scaled = applied.find((d) => d.kind === 'ScaledObject')?.spec as unknown as ScaledObjectSpec;
    const concurrency = Number(config.WORKER_CONCURRENCY ?? 256);
    const replicas = (jobs: Record<string, number>): number => kedaReplicas(scaled, jobs);
    // Each trigger counted once.
    const terms = scaled.advanced?.scalingModifiers?.formula.split('+').map((term) => term.trim());
    expect(terms?.sort()).toEqual(scaled.triggers.map((t) => t.name).sort());
    // A backlog split over the wait list and the prioritized set (cache warming) asks for what it asks for whole.
    expect(replicas({ wait: 300, prioritized: 300 })).toBe(replicas({ wait: 600 }));
    expect(replicas({ wait: 300, delayed: 300 })).toBe(replicas({ wait: 600 }));
    // A waiting job weighs what a running one does: ten full workers and a backlog of 2,000 ask for the workers
    // that run the 4,560 jobs at the target, not for 2,000 jobs' worth at another rate.
    const full = { active: 10 * concurrency, wait: 2_000 };
    expect(replicas(full)).toBe(replicas({ active: full.active + full.wait }));
    expect(replicas(full) * concurrency).toBeGreaterThanOrEqual(full.active + full.wait);
    // A fleet whose workers are all full grows, and an idle one shrinks to minReplicaCount.
    expect(replicas({ active: 10 * concurrency })).toBeGreaterThan(10);
    expect(replicas({})).toBe(scaled.minReplicaCount);
  });

  it('run a known number of workers when KEDA cannot read the queue, within the bounds, not the last count frozen', () => {
    const scaled = applied.find((d) => d.kind === 'ScaledObject')?.spec as unknown as ScaledObjectSpec;
    const fallback = scaled.fallback;
    expect(fallback).toBeDefined();
    const { failureThreshold, replicas, behavior } = fallback ?? { failureThreshold: 0, replicas: 0 };
    // KEDA requires both; a few failed reads in a row, so a Redis failover or one timeout changes nothing.
    expect(Number.isInteger(failureThreshold)).toBe(true);
    expect(failureThreshold).toBeGreaterThanOrEqual(2);
    expect(failureThreshold).toBeLessThanOrEqual(10);
    expect(Number.isInteger(replicas)).toBe(true);
    // Above the idle floor (a blind autoscaler must not shrink a busy fleet to it), and within maxReplicaCount even
    // as KEDA 2.13-2.16 apply it with scalingModifiers once per failing trigger (kedacore/keda#5371): one Redis
    // behind every trigger, they fail together.
    expect(replicas).toBeGreaterThan(scaled.minReplicaCount);
    expect(replicas).toBeLessThanOrEqual(scaled.maxReplicaCount);
    expect(replicas * scaled.triggers.length).toBeLessThanOrEqual(scaled.maxReplicaCount);
    // `behavior` is KEDA 2.17's; the CRDs of 2.13 to 2.16 (scalingModifiers' versions) do not know it.
    expect(behavior).toBeUndefined();
    // KEDA takes fallback only on AverageValue metrics, and checks each trigger's own field (not its default).
    expect(scaled.advanced?.scalingModifiers?.metricType).toBe('AverageValue');
    for (const trigger of scaled.triggers) {
      expect(trigger.metricType).toBe('AverageValue');
      expect(['cpu', 'memory']).not.toContain(trigger.type);
    }
  });

  it('give KEDA objects only fields its ScaledObject and TriggerAuthentication (2.13-2.16) define', () => {
    const known: Record<string, string[]> = {
      ScaledObject: [
        'scaleTargetRef',
        'pollingInterval',
        'cooldownPeriod',
        'initialCooldownPeriod',
        'idleReplicaCount',
        'minReplicaCount',
        'maxReplicaCount',
        'fallback',
        'advanced',
        'triggers',
      ],
      TriggerAuthentication: [
        'podIdentity',
        'secretTargetRef',
        'env',
        'hashiCorpVault',
        'azureKeyVault',
        'gcpSecretManager',
        'awsSecretManager',
      ],
    };
    const keda = applied.filter((d) => d.kind in known);
    expect(keda.map((d) => d.kind).sort()).toEqual(['ScaledObject', 'TriggerAuthentication']);
    for (const d of keda) {
      expect(Object.keys(d.spec ?? {}).filter((key) => !known[d.kind].includes(key))).toEqual([]);
    }
    const scaled = applied.find((d) => d.kind === 'ScaledObject')?.spec as unknown as ScaledObjectSpec & {
      scaleTargetRef: { name: string };
      advanced: Record<string, unknown>;
    };
    expect(Object.keys(scaled.fallback ?? {}).sort()).toEqual(['failureThreshold', 'replicas']);
    expect(
      Object.keys(scaled.advanced).filter(
        (key) => !['restoreToOriginalReplicaCount', 'horizontalPodAutoscalerConfig', 'scalingModifiers'].includes(key),
      ),
    ).toEqual([]);
    for (const trigger of scaled.triggers) {
      const extra = Object.keys(trigger).filter(
        (key) => !['type', 'name', 'metadata', 'authenticationRef', 'metricType', 'useCachedMetrics'].includes(key),
      );
      expect(extra).toEqual([]);
    }
    expect(scaled.minReplicaCount).toBeLessThanOrEqual(scaled.maxReplicaCount);
    expect(deployment(scaled.scaleTargetRef.name)).toBeDefined();
  });

  it("stop a pod on SIGTERM at any time: node runs under the image's init, which no container replaces", () => {
    // A process that is PID 1 of its container gets only the signals it has a handler for: node has none for SIGTERM
    // until an app has started (installGracefulShutdown), and the migrate CLI none at all. A `migrate` init container
    // waiting for another pod's migration (minutes: the rollups' backfill), or an app waiting for Redis at boot, let
    // the kubelet's SIGTERM pass and was killed only at terminationGracePeriodSeconds (140 s). tini, as PID 1, passes
    // it on to node, which then stops (or drains, once the app handles it).
    const dockerfile = readFileSync(join(K8S, '../Dockerfile'), 'utf8');
    const runtime = dockerfile.split(/^FROM\b/m).at(-1) ?? '';
    expect(runtime).toMatch(/^RUN apt-get[^\n]*install[^\n]*\btini\b/m);
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(runtime)?.[1];
    expect(entrypoint === undefined ? undefined : JSON.parse(entrypoint)).toEqual(['/usr/bin/tini', '--']);
    // In Kubernetes `command` replaces the image's ENTRYPOINT (and `args` its CMD): the app is started by `args`.
    type Started = { name: string; image: string; command?: string[]; args?: string[] };
    const workloads = applied.filter((d) => d.kind === 'Deployment');
    expect(workloads.length).toBe(3);
    for (const workload of workloads) {
      const pod = (workload.spec as { template: { spec: { containers: Started[]; initContainers?: Started[] } } })
        .template.spec;
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        expect({ workload: workload.metadata.name, container: container.name, command: container.command }).toEqual({
          workload: workload.metadata.name,
          container: container.name,
          command: undefined,
        });
        expect(container.args?.[0]).toBe('node');
      }
    }
    // docker compose's `command` replaces CMD only; an `entrypoint` would replace tini.
    const compose = load(readFileSync(join(K8S, '../docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string; entrypoint?: unknown }>;
    };
    const ours = Object.entries(compose.services).filter(([, s]) => s.image === 'ai-gateway:local');
    expect(ours.length).toBeGreaterThanOrEqual(4);
    expect(ours.filter(([, s]) => s.entrypoint !== undefined).map(([name]) => name)).toEqual([]);
  });

  it("give Redis a maxmemory under its container's limit: noeviction refuses writes only past maxmemory", () => {
    // Without maxmemory (0: none) `noeviction` never acts: Redis grows until the kernel OOM-kills it at the
    // container's limit, with every client cut, instead of refusing writes (which the gateway answers with a 503,
    // README "Running Redis"); it then replays an AOF as large as that limit on each restart. Its AOF rewrite forks
    // the process, and the pages written meanwhile are copied: keep room for them under the limit.
    const redis = applied.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'redis')?.spec as unknown as {
      template: {
        spec: {
          containers: { name: string; resources: { requests: { memory: string }; limits: { memory: string } } }[];
        };
      };
    };
    const conf = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'redis-config')?.data?.[
      'redis.conf'
    ];
    const settings = new Map(
      (conf ?? '')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => [line.split(/\s+/)[0], line.split(/\s+/).slice(1).join(' ')] as const),
    );
    expect(settings.get('maxmemory-policy')).toBe('noeviction');
    const bytes = (quantity: string, units: Record<string, number>): number => {
      const match = /^(\d+)([a-zA-Z]*)$/.exec(quantity);
      if (match === null || !(match[2].toLowerCase() in units)) {
        throw new Error(`cannot read the quantity ${quantity}`);
      }
      return Number(match[1]) * units[match[2].toLowerCase()];
    };
    // Redis' units (redis.conf): k/kb, m/mb, g/gb (kb, mb, gb: 1024s; k, m, g: 1000s); Kubernetes' Ki, Mi, Gi.
    const maxmemory = bytes(settings.get('maxmemory') ?? '0', {
      '': 1,
      k: 1e3,
      kb: 1024,
      m: 1e6,
      mb: 1024 ** 2,
      g: 1e9,
      gb: 1024 ** 3,
    });
    const [container] = redis.template.spec.containers;
    const limit = bytes(container.resources.limits.memory, { ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 });
    expect(maxmemory).toBeGreaterThan(0);
    expect(maxmemory).toBeLessThanOrEqual(limit * 0.65);
    // Under node memory pressure the kubelet evicts first the pods above their request: not the one holding the queue.
    expect(container.resources.requests.memory).toBe(container.resources.limits.memory);
  });
});

/**
 * KEDA's `redis` scaler (2.0 and later, kedacore/keda#1013) reads the TYPE of `listName` and counts it with LLEN,
 * ZCARD, SCARD or HLEN (a missing key, TYPE `none`, as a list: 0). BullMQ keeps a job that waits for a worker in
 * more than the wait list: a job with a priority (cache warming) in the `prioritized` sorted set, one retried after
 * a backoff (a failed attempt) in the `delayed` one. Jobs put there by BullMQ itself, counted the way KEDA counts.
 */
describe('the ScaledObject on the keys BullMQ uses', () => {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = uniqueId('keda');
  const keys = new RedisKeys(prefix);
  const queue = new Queue(QueueName.Generation, bullOptions(connection, keys));

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
    await connection.quit();
  });

  async function kedaLength(key: string): Promise<number> {
    const type = await connection.type(key);
    switch (type) {
      case 'zset':
        return connection.zcard(key);
      case 'set':
        return connection.scard(key);
      case 'hash':
        return connection.hlen(key);
      default:
        return connection.llen(key);
    }
  }

  it('count every job that waits for a worker: queued, prioritized (cache warming) and delayed (a retry)', async () => {
    const config = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ai-gateway-config')?.data ?? {};
    const scaled = applied.find((d) => d.kind === 'ScaledObject')?.spec as {
      triggers: { metadata: Record<string, string> }[];
    };
    const configured = new RedisKeys(config.REDIS_PREFIX).bullPrefix;
    const names = scaled.triggers.map((t) => t.metadata.listName.replace(configured, keys.bullPrefix));
    await queue.add(JobName.Generate, {}, {});
    await queue.add(JobName.Generate, {}, { priority: 1_000 });
    await queue.add(JobName.Generate, {}, { delay: 60_000 });
    expect(await queue.getJobCounts('wait', 'prioritized', 'delayed')).toEqual({ wait: 1, prioritized: 1, delayed: 1 });

    const counted = await Promise.all(names.map(kedaLength));
    // Each job is counted once (no worker runs here, so the active list is empty).
    expect(counted.reduce((a, b) => a + b, 0)).toBe(3);
    for (const state of ['wait', 'prioritized', 'delayed']) {
      expect(names).toContain(`${keys.bullPrefix}:${QueueName.Generation}:${state}`);
    }
  });
});
