import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage } from 'class-validator';
import { load, loadAll } from 'js-yaml';
import { CatalogFileError, ENV_PRESETS, keyVariableAllowed, readConnectionSettings, validateEnv } from '@aigw/core';
import { SecretBox, readDatabaseEnv } from '@aigw/entities';
import { AllInOneEnv } from '../../apps/all-in-one/src/config/all-in-one-env';
import { GatewayEnv, trustProxyOf } from '../../apps/api-gateway/src/config/gateway-env';
import { MonitorEnv } from '../../apps/health-monitor/src/config/monitor-env';
import { WorkerEnv } from '../../apps/router-worker/src/config/worker-env';
import { parseSimulatorEnv } from '../../tools/simulator/env';
import { shutdownBudget } from '@aigw/platform';

/**
 * The variables the apps read (their env schemas), the README's variable tables and the deployment artefacts
 * (k8s/, docker-compose.yml) kept in step: every variable is documented, every documented one is read, every one a
 * manifest sets is read by something in that container, and each container's environment passes its app's schema.
 */
const ROOT = join(__dirname, '../..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

type Schema = new () => object;
type Env = Record<string, string>;

/** The schemas each entry point validates its environment with (the single process: all of them). */
const SCHEMAS: Record<string, Schema[]> = {
  'dist/apps/api-gateway/src/main.js': [GatewayEnv],
  'dist/apps/router-worker/src/main.js': [WorkerEnv],
  'dist/apps/health-monitor/src/main.js': [MonitorEnv],
  'dist/apps/all-in-one/src/main.js': [AllInOneEnv, GatewayEnv, WorkerEnv, MonitorEnv],
};

function variablesOf(schema: Schema): string[] {
  return getMetadataStorage()
    .getTargetValidationMetadatas(schema, '', true, false)
    .map((m) => m.propertyName);
}

const READ_BY_APPS = new Set([GatewayEnv, WorkerEnv, MonitorEnv, AllInOneEnv].flatMap(variablesOf));

/** `npm start`'s own variables (scripts/start.mjs), documented in the same table. */
const START_SCRIPT = ['WORKERS', 'MONITOR_PORT', 'SIM_PORT', 'START_MIGRATE_TIMEOUT_S', 'START_READY_TIMEOUT_S'];

interface Row {
  variables: string[];
  /** The default column: one value, or one per variable (`200 / 250 / 20`). */
  defaults: string;
}

/** The rows of the README's variable tables: the variables of the first column and their defaults. */
function documentedRows(): Row[] {
  const rows: Row[] = [];
  let inVariableTable = false;
  for (const line of read('README.md').split('\n')) {
    if (!line.startsWith('|')) {
      inVariableTable = false;
      continue;
    }
    const [, first, second] = line.split('|').map((cell) => cell.trim());
    if (/^variable\b/.test(first)) {
      inVariableTable = true;
    } else if (inVariableTable && !first.startsWith('---')) {
      rows.push({ variables: [...first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]), defaults: second });
    }
  }
  return rows;
}

/** `${VAR}` / `${VAR:-default}` references of a catalog file: variables the catalog seed reads. */
function interpolated(catalogYaml: string): Set<string> {
  return new Set([...catalogYaml.matchAll(/\$\{([A-Z][A-Z0-9_]*)(:-[^}]*)?\}/g)].map((m) => m[1]));
}

function unknownIn(env: Env, known: Set<string>): string[] {
  return Object.keys(env).filter((k) => !READ_BY_APPS.has(k) && !known.has(k));
}

/** Every schema of the entry point accepts the environment; the production secrets key opens. */
function expectAccepted(command: string[], env: Env): void {
  const schemas = SCHEMAS[command.find((arg) => arg in SCHEMAS) ?? ''];
  expect(schemas).toBeDefined();
  for (const schema of schemas) {
    expect(() => validateEnv(schema, env)).not.toThrow();
  }
  expect(() => SecretBox.fromEnv(env.SECRETS_KEY, env.NODE_ENV, env.SECRETS_KEY_PREVIOUS)).not.toThrow();
}

const SECRETS_KEY = randomBytes(32).toString('base64');

describe('README variable tables and the env schemas', () => {
  const rows = documentedRows();
  const docs = new Set(rows.flatMap((row) => row.variables));

  it('document every variable an app reads', () => {
    expect([...READ_BY_APPS].filter((v) => !docs.has(v)).sort()).toEqual([]);
  });

  it('document no variable that nothing reads', () => {
    const script = read('scripts/start.mjs');
    for (const v of START_SCRIPT) {
      // Read directly, or through its integer check.
      expect([v, script.includes(`env.${v}`) || script.includes(`intVar('${v}'`)]).toEqual([v, true]);
    }
    expect([...docs].filter((v) => !READ_BY_APPS.has(v) && !START_SCRIPT.includes(v)).sort()).toEqual([]);
  });

  it('name every variable that registers a provider without PROVIDERS_FILE (README and docs/providers.md)', () => {
    const providersFileRow = read('README.md')
      .split('\n')
      .find((line) => line.startsWith('| `PROVIDERS_FILE`'));
    const providersDoc = read('docs/providers.md');
    const missing: string[] = [];
    for (const preset of ENV_PRESETS) {
      for (const variable of [preset.variable, preset.urlVariable].filter((v) => v !== undefined)) {
        if (!providersFileRow?.includes(`\`${variable}\``)) {
          missing.push(`README: ${variable}`);
        }
        if (!providersDoc.includes(`\`${variable}\``)) {
          missing.push(`docs/providers.md: ${variable}`);
        }
      }
      // `*_MODELS` there names the models variable of each local server: `<X>_MODELS` beside `<X>_BASE_URL`.
      const models = preset.modelsVariable;
      const byPattern =
        providersDoc.includes('`*_MODELS`') && models === preset.variable.replace(/_BASE_URL$/, '_MODELS');
      if (models !== undefined && !providersDoc.includes(`\`${models}\``) && !byPattern) {
        missing.push(`docs/providers.md: ${models}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('give the defaults the schemas give', () => {
    const defaults = new Map<string, unknown>();
    for (const schema of [GatewayEnv, WorkerEnv, MonitorEnv, AllInOneEnv]) {
      for (const [variable, value] of Object.entries(new schema())) {
        if (value !== undefined) {
          defaults.set(variable, value);
        }
      }
    }
    const wrong: string[] = [];
    let compared = 0;
    for (const { variables, defaults: cell } of rows) {
      const parts = cell.split(' / ').map((part) => part.replace(/`/g, '').trim());
      variables.forEach((variable, i) => {
        const documentedValue = parts.length === variables.length ? parts[i] : cell;
        // Only a plain value (a number, a word): `2 MiB`, `– (none)` or `dev key outside production` are prose.
        if (!defaults.has(variable) || !/^[\w.-]+$/.test(documentedValue)) {
          return;
        }
        compared += 1;
        if (String(defaults.get(variable)) !== documentedValue) {
          wrong.push(`${variable}: README ${documentedValue}, schema ${String(defaults.get(variable))}`);
        }
      });
    }
    expect(wrong).toEqual([]);
    expect(compared).toBeGreaterThan(50);
  });
});

describe('entry points the deployment artefacts and README start', () => {
  it('are built from a source file (dist/X.js from X.ts, as tsconfig.build.json compiles)', () => {
    const files = [
      'Dockerfile',
      'docker-compose.yml',
      'README.md',
      ...readdirSync(join(ROOT, 'k8s')).map((f) => `k8s/${f}`),
    ];
    const started = new Set(
      files.flatMap((file) => [...read(file).matchAll(/\bdist\/([\w/.-]+)\.js\b/g)].map((m) => m[1])),
    );
    expect([...started].filter((entry) => !existsSync(join(ROOT, `${entry}.ts`)))).toEqual([]);
    expect(started.size).toBeGreaterThanOrEqual(8);
  });
});

interface K8sContainer {
  name: string;
  args: string[];
  env?: { name: string; value: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
}

interface K8sDoc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Env;
  stringData?: Env;
}

describe('k8s manifests and the env schemas', () => {
  const docsOf = (file: string): K8sDoc[] =>
    loadAll(read(`k8s/${file}`)).filter((d): d is K8sDoc => d !== null && d !== undefined);
  const { resources } = docsOf('kustomization.yaml')[0] as unknown as { resources: string[] };
  const applied = resources.flatMap(docsOf);
  const [secret] = docsOf('secret.example.yaml');
  const configMap = (name: string): Env =>
    applied.find((d) => d.kind === 'ConfigMap' && d.metadata.name === name)!.data!;
  const catalog = interpolated(configMap('ai-gateway-catalog')['providers.yaml']);
  // KEDA's scaler reads these from the Secret (router-worker.yaml's TriggerAuthentication); the apps do not.
  const keda = new Set(
    applied
      .filter((d) => d.kind === 'TriggerAuthentication')
      .flatMap((d) => (d.spec as { secretTargetRef: { key: string }[] }).secretTargetRef.map((r) => r.key)),
  );
  const deployments = applied.filter((d) => d.kind === 'Deployment');
  const podOf = (d: K8sDoc): { containers: K8sContainer[]; initContainers?: K8sContainer[] } =>
    (d.spec as { template: { spec: { containers: K8sContainer[]; initContainers?: K8sContainer[] } } }).template.spec;

  /** A container's environment as the pod gets it, the Secret template's placeholder key replaced by a real one. */
  function envOf(container: K8sContainer): Env {
    const env: Env = {};
    for (const ref of container.envFrom ?? []) {
      if (ref.configMapRef !== undefined) {
        Object.assign(env, configMap(ref.configMapRef.name));
      } else if (ref.secretRef !== undefined) {
        expect(ref.secretRef.name).toBe(secret.metadata.name);
        Object.assign(env, secret.stringData, { SECRETS_KEY });
      }
    }
    for (const { name, value } of container.env ?? []) {
      env[name] = value;
    }
    return env;
  }

  it('leave the Secret template without a usable SECRETS_KEY: the operator makes one', () => {
    expect(() => SecretBox.fromKey(secret.stringData!.SECRETS_KEY)).toThrow();
  });

  it.each(deployments.map((d) => [d.metadata.name, d]))('give %s an environment its app accepts', (_, d) => {
    const pod = podOf(d);
    for (const container of pod.containers) {
      const env = envOf(container);
      expect(unknownIn(env, new Set([...catalog, ...keda]))).toEqual([]);
      expectAccepted(container.args, env);
      // PORT is where the probes and the Service connect; METRICS_PORT, when set, where the ServiceMonitor does.
      expect(container.ports).toEqual([
        { name: 'http', containerPort: Number(env.PORT) },
        ...(env.METRICS_PORT === undefined ? [] : [{ name: 'metrics', containerPort: Number(env.METRICS_PORT) }]),
      ]);
    }
    for (const init of pod.initContainers ?? []) {
      expect(() => readDatabaseEnv(envOf(init))).not.toThrow();
    }
  });

  it('trust the ingress in front of the api-gateway for the client address (X-Forwarded-For)', () => {
    const gateway = deployments.find((d) => d.metadata.name === 'api-gateway')!;
    const trusted = trustProxyOf(envOf(podOf(gateway).containers[0]).TRUST_PROXY ?? 'false');
    // Without it, every client behind the ingress is the ingress' address: one MODELS_PUBLIC_RPM for all of them.
    expect(trusted).not.toBe(false);
    // `true` believes any peer's header, also a client's connecting past the ingress.
    expect(trusted).not.toBe(true);
  });

  it("let the api-gateway's admins name the catalog's key variables, and no others than the default (ADMIN_KEY_VARIABLES)", () => {
    const gateway = deployments.find((d) => d.metadata.name === 'api-gateway')!;
    const listed = envOf(podOf(gateway).containers[0]).ADMIN_KEY_VARIABLES;
    const schema = plainToInstance(GatewayEnv, { ADMIN_KEY_VARIABLES: listed });
    expect(schema.ADMIN_KEY_VARIABLES).toEqual(new GatewayEnv().ADMIN_KEY_VARIABLES);
    // An export of the ConfigMap's catalog imports back through the admin API.
    expect([...catalog].filter((name) => !keyVariableAllowed(name, schema.ADMIN_KEY_VARIABLES))).toEqual([]);
  });

  it("scrape /metrics on every app's Service, on the port the app serves it on (METRICS_PORT, else PORT)", () => {
    const monitor = applied.find((d) => d.kind === 'ServiceMonitor')!.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    expect(monitor.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
    for (const d of deployments) {
      const [container] = podOf(d).containers;
      const env = envOf(container);
      const served = Number(env.METRICS_PORT ?? env.PORT);
      const containerPorts = (container as { ports: { name: string; containerPort: number }[] }).ports;
      const scraped = applied
        .filter((s) => s.kind === 'Service')
        .filter((s) => Object.entries(monitor.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v))
        .filter(
          (s) =>
            (s.spec as { selector: Record<string, string> }).selector['app.kubernetes.io/name'] === d.metadata.name,
        )
        .flatMap((s) => (s.spec as { ports: { name: string; targetPort: string }[] }).ports)
        .filter((p) => p.name === 'metrics')
        .map((p) => containerPorts.find((c) => c.name === p.targetPort)?.containerPort);
      expect({ app: d.metadata.name, scraped }).toEqual({ app: d.metadata.name, scraped: [served] });
    }
  });
});

interface ComposeService {
  command?: string[];
  environment?: Env;
  stop_grace_period?: string;
}

describe('docker-compose.yml and the env schemas', () => {
  const compose = load(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

  /** What `docker compose up` passes with only SECRETS_KEY set in the shell, as its header says. */
  function interpolate(value: string): string {
    return String(value).replace(/\$\{([A-Z_]+)(?::[?-]([^}]*))?\}/g, (_, name: string, fallback?: string) =>
      name === 'SECRETS_KEY' ? SECRETS_KEY : name === 'SECRETS_KEY_PREVIOUS' ? '' : (fallback ?? ''),
    );
  }

  const apps = Object.entries(compose.services).filter(([, s]) => (s.command ?? []).some((arg) => arg in SCHEMAS));

  it.each(apps)('give %s an environment its app accepts', (_, service) => {
    const env = Object.fromEntries<string>(
      Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
    );
    const catalogFile = env.PROVIDERS_FILE.replace(/^\/app\//, '');
    expect(unknownIn(env, interpolated(read(catalogFile)))).toEqual([]);
    expectAccepted(service.command!, env);
  });

  it("stop no app before its grace is over, and let the gateway's and workers' drain cover the request deadline", () => {
    const periodS = (service: ComposeService): number => {
      const match = /^(\d+)s$/.exec(service.stop_grace_period ?? '10s');
      expect(match).not.toBeNull();
      return Number(match![1]);
    };
    expect(apps.length).toBeGreaterThanOrEqual(4);
    for (const [name, service] of apps) {
      const env = Object.fromEntries<string>(
        Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
      );
      for (const schema of SCHEMAS[service.command!.find((arg) => arg in SCHEMAS)!]) {
        const app = validateEnv(schema, env) as { SHUTDOWN_GRACE_MS?: number; REQUEST_TIMEOUT_MS?: number };
        if (app.SHUTDOWN_GRACE_MS === undefined) {
          continue;
        }
        // Docker kills a container still running at its stop_grace_period (10 s unless set), and what it held.
        expect({ name, killedAfterGrace: periodS(service) * 1000 > app.SHUTDOWN_GRACE_MS }).toEqual({
          name,
          killedAfterGrace: true,
        });
        if (app.REQUEST_TIMEOUT_MS !== undefined) {
          expect(shutdownBudget(app.SHUTDOWN_GRACE_MS).drainMs).toBeGreaterThanOrEqual(app.REQUEST_TIMEOUT_MS);
        }
      }
    }
  });

  it('run the simulator with variables it reads and accepts', () => {
    const env = compose.services.simulator.environment!;
    const source = read('tools/simulator/env.ts');
    expect(Object.keys(env).filter((k) => !source.includes(`'${k}'`) && !source.includes(`env.${k}`))).toEqual([]);
    expect(() => parseSimulatorEnv(env)).not.toThrow();
  });

  it("let the gateway's admins name the variables ADMIN_KEY_VARIABLES' default lists, unless told otherwise", () => {
    for (const name of ['api-gateway', 'all-in-one']) {
      const listed = interpolate(compose.services[name].environment!.ADMIN_KEY_VARIABLES);
      expect([name, plainToInstance(GatewayEnv, { ADMIN_KEY_VARIABLES: listed }).ADMIN_KEY_VARIABLES]).toEqual([
        name,
        new GatewayEnv().ADMIN_KEY_VARIABLES,
      ]);
    }
  });

  it('keep the gateway on the TCP peer for the client address unless told otherwise (it is published directly)', () => {
    for (const name of ['api-gateway', 'all-in-one']) {
      expect(compose.services[name].environment).toHaveProperty('TRUST_PROXY');
      expect(trustProxyOf(interpolate(compose.services[name].environment!.TRUST_PROXY))).toBe(false);
    }
  });
});

describe("the default ADMIN_KEY_VARIABLES and the gateway's own variables", () => {
  /**
   * `*_API_KEY` is a name pattern: it lets an admin key name any variable so spelled, a provider's or not. None of
   * the gateway's own may be one (its secrets would then go to a provider URL the admin chooses), unless
   * GATEWAY_SECRETS refuses it whatever ADMIN_KEY_VARIABLES says: every variable the apps read, and every one the
   * deployment artefacts set (the k8s Secret and ConfigMaps, given whole to every app by `envFrom`, and
   * docker-compose.yml), is checked, so a new one (an `ALERTS_API_KEY`, say) is refused here until it is added there.
   */
  it('lets it name, of them, only the provider key variables (provider-env.ts), and none of the secrets', () => {
    const k8s = readdirSync(join(ROOT, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => loadAll(read(`k8s/${f}`)) as (K8sDoc | null)[])
      .filter((d): d is K8sDoc => d !== null && (d.kind === 'Secret' || d.kind === 'ConfigMap'))
      .flatMap((d) => Object.keys({ ...d.data, ...d.stringData }));
    const compose = load(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
    const composed = Object.values(compose.services).flatMap((s) => Object.keys(s.environment ?? {}));
    const own = new Set([...READ_BY_APPS, ...k8s, ...composed]);
    expect([...own]).toEqual(expect.arrayContaining(['DATABASE_URL', 'BOOTSTRAP_ADMIN_KEY', 'REDIS_PASSWORD']));

    const providerKeys = new Set(ENV_PRESETS.filter((p) => p.holds === 'key').map((p) => p.variable));
    const defaults = new GatewayEnv().ADMIN_KEY_VARIABLES;
    const nameable = [...own].filter((name) => keyVariableAllowed(name, defaults) && !providerKeys.has(name));
    // Each of these, if any, must be refused as the gateway's own secret (catalog-file.ts GATEWAY_SECRETS).
    const problemsOf = (name: string): string[] => {
      try {
        const settings = { baseUrl: 'http://127.0.0.1:9', apiKey: `\${${name}}` };
        readConnectionSettings(settings, { [name]: 'v' }, { environment: 'apiKeyOnly' });
        return [];
      } catch (err) {
        return err instanceof CatalogFileError ? err.problems : [String(err)];
      }
    };
    expect(nameable.filter((name) => !problemsOf(name).some((p) => p.includes("the gateway's own secret")))).toEqual(
      [],
    );
    // The provider keys are named, and read.
    expect([...providerKeys].filter((name) => problemsOf(name).length > 0)).toEqual([]);
  });
});
