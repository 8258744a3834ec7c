import {
  CatalogFileError,
  catalogFromEnv,
  ConfigurationError,
  InvalidEnvironmentError,
  loadCatalogFile,
  misspelledVariables,
  validateEnv,
} from '@aigw/core';
import { jsonLine, startFailureReport } from '../lifecycle/start-failure';
import { graceCovering, shutdownBudget } from '../lifecycle/shutdown';
import { BaseEnv, withRedisPassword } from './base-env';
import { RequestDeadlineEnv } from './request-deadline-env';

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and exits 1,
 * before anything connects anywhere.
 */
export function loadEnvOrExit<T extends object>(schema: new () => T, appName: string): T {
  const env = loadEnvOrReport(schema, appName);
  if (env === null) {
    process.exit(1);
  }
  return env;
}

/**
 * Validates process.env against the app's schema; on failure prints every bad variable and answers null, for a
 * process hosting several apps (ADR 0010) to report each app's before it exits, as the split apps each would. An app
 * that seeds the provider catalog (every BaseEnv) also has PROVIDERS_FILE, or else the provider variables, checked
 * here, before anything connects.
 */
export function loadEnvOrReport<T extends object>(schema: new () => T, appName: string): T | null {
  warnMisspelled(schema, appName);
  let env: T | null = null;
  let problems: string[] = [];
  try {
    env = validateEnv(schema, process.env);
  } catch (err) {
    if (!(err instanceof InvalidEnvironmentError)) {
      throw err;
    }
    problems = err.problems;
  }
  if (env instanceof BaseEnv) {
    // Only once REDIS_URL was read as a URL: its own problem is the one to report.
    const password = withRedisPassword(env);
    if (password !== null) {
      problems = [password];
      env = null;
    }
  }
  const seedsCatalog = new schema() instanceof BaseEnv;
  // As validateEnv reads it (blank is unset), which is what CatalogService seeds from.
  const providersFile = process.env.PROVIDERS_FILE?.trim() ? process.env.PROVIDERS_FILE : undefined;
  // The provider variables and PROVIDERS_FILE are the process's, not one app's: a process hosting several apps
  // reports their problems once, with the first app's, and every app that seeds the catalog refuses to start.
  let refusedCatalog = false;
  if (seedsCatalog && providersFile === undefined) {
    const providers = providerVariableProblems(process.env);
    refusedCatalog = providers.length > 0;
    problems = [...problems, ...providers.filter((line) => !reported.has(line))];
    providers.forEach((line) => reported.add(line));
  }
  if (problems.length > 0) {
    const message = new InvalidEnvironmentError(problems).message;
    process.stderr.write(
      process.env.LOG_FORMAT === 'json' ? `${jsonLine(appName, message)}\n` : `[${appName}] ${message}\n`,
    );
    return null;
  }
  if (seedsCatalog && providersFile !== undefined) {
    const refusal = catalogFileRefusal(providersFile, appName);
    refusedCatalog = refusal !== null;
    if (refusal !== null && !reported.has(PROVIDERS_FILE_REFUSED)) {
      reported.add(PROVIDERS_FILE_REFUSED);
      process.stderr.write(refusal);
    }
  }
  if (env instanceof RequestDeadlineEnv && !refusedCatalog) {
    warnShortGrace(env, appName);
  }
  return refusedCatalog ? null : env;
}

/**
 * Warns (once per process, at boot) when SHUTDOWN_GRACE_MS, given explicitly, drains for less than REQUEST_TIMEOUT_MS
 * (RequestDeadlineEnv derives a grace that does not): a stop then cuts the requests running longer with a retryable
 * 503. Allowed, a shorter stop can be the operator's choice, but the pair is easily left behind when one is raised
 * (k8s/configmap.yaml sets both).
 */
function warnShortGrace(env: RequestDeadlineEnv, appName: string): void {
  const { drainMs } = shutdownBudget(env.SHUTDOWN_GRACE_MS);
  if (drainMs >= env.REQUEST_TIMEOUT_MS || warned.has('SHUTDOWN_GRACE_MS')) {
    return;
  }
  warned.add('SHUTDOWN_GRACE_MS');
  const message =
    `SHUTDOWN_GRACE_MS=${env.SHUTDOWN_GRACE_MS} lets in-flight requests run ${drainMs} ms after SIGTERM, less than ` +
    `REQUEST_TIMEOUT_MS=${env.REQUEST_TIMEOUT_MS}: a stop cuts longer ones with a retryable 503. Unset it (its default ` +
    `is ${graceCovering(env.REQUEST_TIMEOUT_MS)}) or raise it, with the time your orchestrator waits before killing.`;
  process.stderr.write(
    process.env.LOG_FORMAT === 'json'
      ? `${jsonLine(appName, message, undefined, 'warn')}\n`
      : `[${appName}] warning: ${message}\n`,
  );
}

/** Provider problems already printed by this process (with the app name of the first app that found them). */
const reported = new Set<string>();
const PROVIDERS_FILE_REFUSED = 'PROVIDERS_FILE';

/**
 * The problems of the provider variables (OLLAMA_BASE_URL, VLLM_MODELS, ...) that register providers when there is no
 * PROVIDERS_FILE, as `VARIABLE: problem` lines. Checked with the rest of the environment, before anything connects:
 * the catalog's own check came after the migrations had run (and the other connections had opened).
 */
function providerVariableProblems(env: NodeJS.ProcessEnv): string[] {
  try {
    catalogFromEnv(env);
    return [];
  } catch (err) {
    if (!(err instanceof CatalogFileError)) {
      throw err;
    }
    return err.problems.map((problem) => {
      const variable = /^[A-Z][A-Z0-9_]*/.exec(problem)?.[0];
      return variable === undefined ? problem : `${variable}: ${problem}`;
    });
  }
}

/**
 * PROVIDERS_FILE read and checked before anything connects (a file that cannot be read, bad YAML, an entry that is
 * not valid, a `${VAR}` unset): the report of the failed start, or null when it is fine. A link-local address is left
 * to the seed, which knows what is stored already (CatalogService); so are plugin modules.
 */
function catalogFileRefusal(file: string, appName: string): string | null {
  try {
    loadCatalogFile(file, process.env, { allowLinkLocal: true });
    return null;
  } catch (err) {
    if (err instanceof ConfigurationError) {
      return startFailureReport(appName, err);
    }
    throw err;
  }
}

/** Variables already warned about: the single process checks the environment once per app it hosts. */
const warned = new Set<string>();

/**
 * Warns (once per variable and process, at boot only) about a variable the app ignores that is a typo away from one
 * it reads (misspelledVariables): `REDIS_URI` would otherwise leave REDIS_URL at its default without a word. Only
 * names are printed, never a value.
 */
function warnMisspelled(schema: new () => object, appName: string): void {
  for (const { variable, intended } of misspelledVariables([schema], process.env)) {
    if (warned.has(variable)) {
      continue;
    }
    warned.add(variable);
    const message = `${variable} is not a variable the ${appName} reads (ignored): did you mean ${intended}?`;
    process.stderr.write(
      process.env.LOG_FORMAT === 'json'
        ? `${jsonLine(appName, message, undefined, 'warn')}\n`
        : `[${appName}] warning: ${message}\n`,
    );
  }
}
