import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, parseRedisUrl, QueueName, validateEnv } from '@aigw/core';
import { GatewayEnv } from '../../apps/api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';
import {
  BaseEnv,
  bullOptions,
  RedisKeys,
  shutdownBudget,
  withRedisPassword,
  type RequestDeadlineEnv,
} from '@aigw/platform';
import { freePort, TEST_REDIS_URL, uniqueId, waitFor } from '@aigw/testing';

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

/** A Kubernetes memory quantity (`512Mi`, `1Gi`) in MiB. */
function mebibytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (match === null) {
    throw new Error(`unexpected memory quantity ${quantity}`);
  }
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

/** The ConfigMap's variables with the SECRETS_KEY the Secret adds (its template holds a placeholder). */
function withSecretsKey(config: Record<string, string>): Record<string, string> {
  return { ...config, SECRETS_KEY: randomBytes(32).toString('base64') };
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
    const apps: [string, new () => BaseEnv][] = [
      ['api-gateway', GatewayEnv],
      ['router-worker', WorkerEnv],
      ['health-monitor', MonitorEnv],
    ];
    for (const [name, schema] of apps) {
      // The grace the app has with the ConfigMap's variables (its own default when the ConfigMap sets none).
      const graceS = validateEnv(schema, withSecretsKey(config)).SHUTDOWN_GRACE_MS / 1000;
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
    const holding: (new () => RequestDeadlineEnv)[] = [GatewayEnv, WorkerEnv];
    for (const schema of holding) {
      const env = validateEnv(schema, withSecretsKey(config));
      // Autoscalers scale in routinely: a generation still running when its gateway or worker pod stops was cut with
      // a 503 (a stream: an error event mid-answer) once the drain ran out, 23 s into a 120 s deadline.
      expect(shutdownBudget(env.SHUTDOWN_GRACE_MS).drainMs).toBeGreaterThanOrEqual(env.REQUEST_TIMEOUT_MS);
    }
  });

  it('give the api-gateway a heap and a memory limit that hold MAX_PENDING_REQUESTS requests arriving at once', () => {
    // Measured (the api-gateway alone, k8s ConfigMap environment, no worker: every request held until its deadline),
    // a burst of 5,000 sync requests with a 32 KB prompt each: the heap peaked at ~420 MB (~90 MB at idle, ~66 KB
    // per request while it arrives, is parsed and queued) and the process' RSS at ~700 MB, ~280 MB beyond the heap
    // (new space, code, buffers). The same burst with 16 KB prompts in a 512Mi container with no heap flag crashed:
    // V8 sizes its heap to half the container's memory (259 MB of 512Mi), "Reached heap limit", every held request
    // lost, the very spike MAX_PENDING_REQUESTS is there to refuse with a 503.
    const IDLE_HEAP_MB = 90;
    const HEAP_PER_REQUEST_MB = 66 / 1024;
    const RSS_BEYOND_HEAP_MB = 280;
    const config = applied.find((d) => d.kind === 'ConfigMap')?.data ?? {};
    const pending = Number(config.MAX_PENDING_REQUESTS ?? new GatewayEnv().MAX_PENDING_REQUESTS);
    const [gateway] = deployment('api-gateway').spec.template.spec.containers as {
      args: string[];
      resources: { limits: { memory: string } };
    }[];
    const limitMb = mebibytes(gateway.resources.limits.memory);
    const flag = gateway.args.map((arg) => /^--max-old-space-size=(\d+)$/.exec(arg)?.[1]).find(Boolean);
    const heapMb = flag === undefined ? limitMb / 2 : Number(flag);
    // The heap holds the burst with a quarter to spare (garbage between full GCs), and the container the heap.
    expect({ heapMb, enough: heapMb >= 1.25 * (IDLE_HEAP_MB + pending * HEAP_PER_REQUEST_MB) }).toEqual({
      heapMb,
      enough: true,
    });
    expect(heapMb + RSS_BEYOND_HEAP_MB).toBeLessThanOrEqual(limitMb);
    // Larger prompts: the held bodies' bytes are bounded too (MAX_PENDING_BYTES). The heap grows with the requests and
    // their bytes alike, so bytes up to `pending` of the measured 32 KB prompts keep the measured peak an upper bound;
    // by the count alone, at the ~2 bytes of heap per body byte measured, ~150 bodies of MAX_BODY_BYTES (2 MiB) would
    // fill the heap, far below the count.
    const pendingBytes = Number(config.MAX_PENDING_BYTES ?? new GatewayEnv().MAX_PENDING_BYTES);
    expect(pendingBytes).toBeGreaterThan(0);
    expect(pendingBytes).toBeLessThanOrEqual(pending * 32 * 1024);
    // A node flag, before the script: after it, it would be the app's argument.
    expect(gateway.args.indexOf('dist/apps/api-gateway/src/main.js')).toBe(gateway.args.length - 1);
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
    const url = new URL(config.REDIS_URL);
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
      // The index is REDIS_URL's.
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

/** A Kubernetes label selector (matchLabels and matchExpressions), as NetworkPolicies and spread constraints use it. */
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  return (
    Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
    (selector.matchExpressions ?? []).every((e) => {
      switch (e.operator) {
        case 'In':
          return e.values?.includes(labels[e.key]) ?? false;
        case 'NotIn':
          return !(e.values?.includes(labels[e.key]) ?? false);
        case 'Exists':
          return e.key in labels;
        case 'DoesNotExist':
          return !(e.key in labels);
      }
    })
  );
}

interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: string[];
  ingress?: {
    from?: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: unknown }[];
    ports?: { port?: number | string; protocol?: string }[];
  }[];
}

/** A pod that connects: its namespace's labels (the name one, as the API server sets it) and its own. */
interface Peer {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

const NAMESPACE = (applied.find((d) => d.kind === 'Namespace') as Doc).metadata.name;

/** A pod that is connected to: its labels and its named container ports. */
interface Target {
  name: string;
  labels: Record<string, string>;
  ports: Record<string, number>;
}

/** The pods of the workloads applied here, and the PostgreSQL the Secret names, run in the namespace (README). */
const targets: Target[] = [
  ...applied
    .filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet')
    .map((d) => {
      const template = (
        d.spec as {
          template: {
            metadata: { labels: Record<string, string> };
            spec: { containers: { ports?: { name: string; containerPort: number }[] }[] };
          };
        }
      ).template;
      const ports = template.spec.containers.flatMap((c) => c.ports ?? []);
      return {
        name: d.metadata.name,
        labels: template.metadata.labels,
        ports: Object.fromEntries(ports.map((p) => [p.name, p.containerPort])),
      };
    }),
  { name: 'postgres', labels: { 'app.kubernetes.io/name': 'postgres' }, ports: { postgres: 5432 } },
];

/**
 * Whether `from` may open a TCP connection to `port` of `to`, by the NetworkPolicy rules: a pod selected by no
 * Ingress policy takes everything; one that is selected takes what any rule of any of them allows.
 */
function reachable(from: Peer, to: Target, port: number): boolean {
  const policies = applied
    .filter((d) => d.kind === 'NetworkPolicy')
    .map((d) => d.spec as unknown as NetworkPolicySpec)
    .filter((p) => (p.policyTypes ?? ['Ingress']).includes('Ingress') && selects(p.podSelector, to.labels));
  if (policies.length === 0) {
    return true;
  }
  const namespaceLabels = { 'kubernetes.io/metadata.name': from.namespace };
  return policies.some((policy) =>
    (policy.ingress ?? []).some((rule) => {
      const portAllowed =
        (rule.ports ?? []).length === 0 ||
        (rule.ports ?? []).some(
          (p) =>
            (p.protocol ?? 'TCP') === 'TCP' &&
            (p.port === undefined || (typeof p.port === 'number' ? p.port : to.ports[p.port]) === port),
        );
      const peerAllowed =
        (rule.from ?? []).length === 0 ||
        (rule.from ?? []).some((peer) => {
          if (peer.ipBlock !== undefined) {
            return false;
          }
          const namespaceOk =
            peer.namespaceSelector === undefined
              ? from.namespace === NAMESPACE
              : selects(peer.namespaceSelector, namespaceLabels);
          return namespaceOk && (peer.podSelector === undefined || selects(peer.podSelector, from.labels));
        });
      return portAllowed && peerAllowed;
    }),
  );
}

describe('k8s network policies', () => {
  const app = (name: string): Peer => ({
    name,
    namespace: NAMESPACE,
    labels: targets.find((t) => t.name === name)!.labels,
  });
  const apps = ['api-gateway', 'router-worker', 'health-monitor'].map(app);
  const prometheus: Peer = {
    name: 'prometheus',
    namespace: 'monitoring',
    labels: { 'app.kubernetes.io/name': 'prometheus' },
  };
  const keda: Peer = { name: 'keda', namespace: 'keda', labels: { 'app.kubernetes.io/name': 'keda-operator' } };
  const ingress: Peer = {
    name: 'ingress',
    namespace: 'ingress-nginx',
    labels: { 'app.kubernetes.io/name': 'ingress-nginx' },
  };
  // A pod of the namespace that is none of the apps (a debug pod, a job someone ran), and one of another namespace.
  const neighbour: Peer = { name: 'neighbour', namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'debug' } };
  const stranger: Peer = { name: 'stranger', namespace: 'default', labels: { app: 'anything' } };
  const everyone = [...apps, prometheus, keda, ingress, neighbour, stranger];
  const target = (name: string): Target => targets.find((t) => t.name === name)!;
  const who = (to: Target, port: number): string[] =>
    everyone.filter((from) => reachable(from, to, port)).map((p) => p.name);

  it('let only the apps reach Redis and PostgreSQL (and KEDA Redis, for the queue length)', () => {
    expect(who(target('redis'), target('redis').ports.redis)).toEqual([
      'api-gateway',
      'router-worker',
      'health-monitor',
      'keda',
    ]);
    expect(who(target('postgres'), 5432)).toEqual(['api-gateway', 'router-worker', 'health-monitor']);
  });

  it("open the api-gateway's API port to all, and every other port of the namespace to none but Prometheus", () => {
    const gateway = target('api-gateway');
    expect(who(gateway, gateway.ports.http)).toEqual(everyone.map((p) => p.name));
    expect(who(gateway, gateway.ports.metrics)).toEqual(['prometheus']);
    for (const name of ['router-worker', 'health-monitor']) {
      expect({ name, who: who(target(name), target(name).ports.http) }).toEqual({ name, who: ['prometheus'] });
    }
    // From outside the apps, the API port is the only way in, whatever port of whatever pod is tried.
    for (const from of [ingress, neighbour, stranger]) {
      const open = targets.flatMap((to) =>
        [...Object.values(to.ports), 6379, 5432, 9464, 8080]
          .filter((port) => reachable(from, to, port))
          .map((port) => `${to.name}:${port}`),
      );
      expect({ from: from.name, open: [...new Set(open)] }).toEqual({ from: from.name, open: ['api-gateway:3000'] });
    }
  });

  it('deny by default: a pod added to the namespace takes nothing until a policy lets it', () => {
    const newcomer: Target = {
      name: 'newcomer',
      labels: { 'app.kubernetes.io/name': 'newcomer' },
      ports: { http: 80 },
    };
    expect(everyone.filter((from) => reachable(from, newcomer, 80))).toEqual([]);
  });
});

describe('k8s manifests for Redis, metrics, drains and spreading', () => {
  type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
  type RedisContainer = {
    args: string[];
    env?: EnvVar[];
    readinessProbe: { exec: { command: string[] } };
  };
  const redisContainer = (
    applied.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'redis')?.spec as unknown as {
      template: { spec: { containers: RedisContainer[] } };
    }
  ).template.spec.containers[0];
  const secret = (docs('secret.example.yaml')[0] as unknown as { stringData: Record<string, string> }).stringData;

  it("require Redis' password, the Secret's REDIS_PASSWORD, which the apps and KEDA's scaler log in with", () => {
    const auth = redisContainer.env?.find((e) => e.name === 'REDISCLI_AUTH');
    expect(auth?.valueFrom?.secretKeyRef).toEqual({ name: 'ai-gateway-secrets', key: 'REDIS_PASSWORD' });
    expect(redisContainer.args.join(' ')).toMatch(/requirepass "\$REDISCLI_AUTH"/);
    expect(secret.REDIS_PASSWORD).not.toBe('');
    // Held once: the ConfigMap's REDIS_URL has none of its own (the apps put REDIS_PASSWORD in), and the Secret no URL
    // that would have to be changed with it.
    const config = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ai-gateway-config')?.data ?? {};
    expect(new URL(config.REDIS_URL).password).toBe('');
    expect(secret.REDIS_URL).toBeUndefined();
    const env = validateEnv(BaseEnv, { REDIS_URL: config.REDIS_URL, REDIS_PASSWORD: secret.REDIS_PASSWORD });
    expect(withRedisPassword(env)).toBeNull();
    expect(parseRedisUrl(env.REDIS_URL).password).toBe(secret.REDIS_PASSWORD);
    const trigger = applied.find((d) => d.kind === 'TriggerAuthentication')?.spec as {
      secretTargetRef: { parameter: string; key: string }[];
    };
    expect(trigger.secretTargetRef.find((r) => r.parameter === 'password')?.key).toBe('REDIS_PASSWORD');
    // Not in a ConfigMap (readable by whoever reads the namespace's configuration).
    const conf = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'redis-config')?.data;
    expect(conf?.['redis.conf']).not.toMatch(/^\s*requirepass/m);
  });

  it('govern the Redis StatefulSet with a headless Service, and let the apps and KEDA reach it by a stable address', () => {
    type ServiceSpec = {
      clusterIP?: string;
      publishNotReadyAddresses?: boolean;
      selector: Record<string, string>;
      ports: { port: number; targetPort: string | number }[];
    };
    const services = applied.filter((d) => d.kind === 'Service');
    const serviceSpec = (name: string): ServiceSpec | undefined =>
      services.find((d) => d.metadata.name === name)?.spec as ServiceSpec | undefined;
    const set = applied.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'redis')?.spec as {
      serviceName: string;
      selector: { matchLabels: Record<string, string> };
    };
    // A StatefulSet's serviceName must name a headless Service (clusterIP: None): it gives the pod its DNS name
    // (redis-0.<service>), which a Service with a cluster IP does not.
    const governing = serviceSpec(set.serviceName);
    expect(governing?.clusterIP).toBe('None');
    // The pod's name resolves while it replays its AOF too (Redis' own clients of it, a debugging session).
    expect(governing?.publishNotReadyAddresses).toBe(true);
    // The apps (REDIS_URL) and KEDA (REDIS_ADDRESS) connect to a Service with a cluster IP: one address that stays,
    // refusing connections while Redis is not ready, rather than a name that resolves to nothing (the headless
    // one's, which lists only ready pods without publishNotReadyAddresses) or to a pod's address that changes.
    const config = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'ai-gateway-config')?.data ?? {};
    const { hostname, port } = new URL(config.REDIS_URL);
    expect(secret.REDIS_ADDRESS).toBe(`${hostname}:${port}`);
    const reached = serviceSpec(hostname);
    expect(reached?.clusterIP).toBeUndefined();
    expect(reached?.selector).toEqual(set.selector.matchLabels);
    expect(reached?.ports.map((p) => [p.port, p.targetPort])).toEqual([[Number(port), 'redis']]);
  });

  describe("Redis' start, run as the manifest runs it", () => {
    const dir = mkdtempSync(join(tmpdir(), 'aigw-k8s-redis-'));
    let port = 0;
    let conf = '';
    const password = 'k8s-test-0123456789abcdef';

    beforeAll(async () => {
      port = await freePort();
      conf = join(dir, 'redis.conf');
      const base = applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'redis-config')?.data?.[
        'redis.conf'
      ];
      // The ConfigMap's settings, on a port and in a directory of the test's own.
      writeFileSync(conf, `${base ?? ''}\nport ${port}\nbind 127.0.0.1\ndir ${dir}\n`);
    });

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** The container's command (`args`, after the image's entrypoint, which runs a non-Redis command as it is). */
    function start(auth: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
      const [shell, ...rest] = redisContainer.args;
      const args = rest.map((a) => a.replace('/etc/redis/redis.conf', conf));
      const child = spawn(shell, args, { env: { PATH: process.env.PATH ?? '', REDISCLI_AUTH: auth } });
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, output: () => output, exited };
    }

    /** The readiness probe's command, against this port (redis-cli's default is the shared Redis' 6379). */
    function probe(auth: string): number | null {
      const [shell, ...rest] = redisContainer.readinessProbe.exec.command;
      const args = rest.map((a) => a.replace('redis-cli', `redis-cli -p ${port}`));
      return spawnSync(shell, args, { env: { PATH: process.env.PATH ?? '', REDISCLI_AUTH: auth } }).status;
    }

    it('refuses a client without the password, takes one with it, keeps it off the command line, stops on SIGTERM', async () => {
      const redis = start(password);
      const anonymous = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        enableReadyCheck: false,
        maxRetriesPerRequest: 0,
      });
      anonymous.on('error', () => undefined);
      const client = new Redis(`redis://:${password}@127.0.0.1:${port}/0`, { lazyConnect: true });
      try {
        await waitFor(() => probe(password) === 0, {
          timeoutMs: 10_000,
          message: `Redis did not become ready:\n${redis.output()}`,
        });
        await anonymous.connect();
        await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
        await client.connect();
        expect(await client.ping()).toBe('PONG');
        // The readiness probe fails with another password (a Secret rotated without a restart of Redis).
        expect(probe('not-the-password')).not.toBe(0);
        // The shell `exec`s redis-server: it is the container's PID 1, and its command line has no password.
        const cmdline = readFileSync(`/proc/${redis.child.pid}/cmdline`, 'utf8');
        expect(cmdline).toContain('redis-server');
        expect(cmdline).not.toContain(password);
        redis.child.kill('SIGTERM');
        expect(await redis.exited).toBe(0);
      } finally {
        anonymous.disconnect();
        client.disconnect();
        redis.child.kill('SIGKILL');
      }
    });

    it.each([
      ['empty', ''],
      ['with a character redis.conf would read as quoting', 'abc"def'],
    ])('refuses to start with a password %s', async (_, auth) => {
      const redis = start(auth);
      expect(await redis.exited).toBe(1);
      expect(redis.output()).toContain('REDIS_PASSWORD');
    });
  });

  it("serve the api-gateway's /metrics on METRICS_PORT, outside its public Service", () => {
    const pod = deployment('api-gateway').spec.template.spec as {
      containers: { env: EnvVar[]; ports: { name: string; containerPort: number }[] }[];
    };
    const [container] = pod.containers;
    const metricsPort = container.env.find((e) => e.name === 'METRICS_PORT')?.value;
    expect(metricsPort).toBeDefined();
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: Number(metricsPort) });
    const publicService = applied.find((d) => d.kind === 'Service' && d.metadata.name === 'api-gateway')?.spec as {
      ports: { name: string; port: number; targetPort: string }[];
    };
    expect(publicService.ports.map((p) => p.targetPort)).toEqual(['http']);
    const monitor = applied.find((d) => d.kind === 'ServiceMonitor')?.spec as { endpoints: { port: string }[] };
    expect(monitor.endpoints.map((e) => e.port)).toEqual(['metrics']);
  });

  it('let a node drain evict pods that are not ready (a Redis outage makes every worker unready)', () => {
    const budgets = applied.filter((d) => d.kind === 'PodDisruptionBudget');
    expect(budgets.map((d) => d.metadata.name).sort()).toEqual(['api-gateway', 'health-monitor', 'router-worker']);
    for (const budget of budgets) {
      // IfHealthyBudget (the default) evicts an unready pod only while the budget holds: with every worker unready
      // (/health/ready fails while Redis is down) minAvailable: 1 allowed none, and `kubectl drain` hung.
      expect({ budget: budget.metadata.name, policy: budget.spec?.unhealthyPodEvictionPolicy }).toEqual({
        budget: budget.metadata.name,
        policy: 'AlwaysAllow',
      });
    }
  });

  it('spread the gateways and the workers over zones and nodes, without ever leaving one pending for it', () => {
    type Spread = {
      maxSkew: number;
      topologyKey: string;
      whenUnsatisfiable: string;
      labelSelector: LabelSelector;
      matchLabelKeys?: string[];
    };
    for (const name of ['api-gateway', 'router-worker']) {
      const template = (
        applied.find((d) => d.kind === 'Deployment' && d.metadata.name === name)?.spec as {
          template: { metadata: { labels: Record<string, string> }; spec: { topologySpreadConstraints?: Spread[] } };
        }
      ).template;
      const spread = template.spec.topologySpreadConstraints ?? [];
      expect({ name, keys: spread.map((s) => s.topologyKey).sort() }).toEqual({
        name,
        keys: ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
      });
      for (const s of spread) {
        expect(s.maxSkew).toBe(1);
        // DoNotSchedule left a scale-out pending on a single-zone cluster, or with more replicas than nodes.
        expect(s.whenUnsatisfiable).toBe('ScheduleAnyway');
        // Its own pods, and no other app's.
        expect(selects(s.labelSelector, template.metadata.labels)).toBe(true);
        for (const other of targets.filter((t) => t.name !== name)) {
          expect(selects(s.labelSelector, other.labels)).toBe(false);
        }
        expect(s.matchLabelKeys).toEqual(['pod-template-hash']);
      }
    }
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
