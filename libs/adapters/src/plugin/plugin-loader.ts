import path from 'node:path';
import { ConfigurationError } from '@aigw/core';
import { abortSignalOf } from '../http/caller-signal';
import type { HttpPool } from '../http/http-pool';
import type { ProviderAdapter } from '../types';

/** What a plugin's factory receives: the process's pooled HTTP client (keep-alive, per-provider limits). */
export interface PluginContext {
  pool: HttpPool;
}

/**
 * A plugin module exports `createAdapter(context)` (or that function as its default export) returning an object
 * that implements ProviderAdapter. `kind` should be `plugin`.
 */
export type PluginFactory = (context: PluginContext) => ProviderAdapter;

/** A plugin that cannot be used: the message names the provider and the module, for the boot log. */
export class PluginLoadError extends ConfigurationError {
  constructor(message: string, options?: ErrorOptions & { ownCodeFailed?: boolean }) {
    super(message, options);
    this.name = 'PluginLoadError';
  }
}

const METHODS = ['generate', 'stream', 'listModels', 'healthCheck', 'classifyError'] as const;

/** Paths (`./x`, `../x`, `/x`) are relative to the working directory; anything else is a package name. */
export function resolvePlugin(specifier: string, cwd = process.cwd()): string {
  const isPath = specifier.startsWith('.') || path.isAbsolute(specifier);
  return require.resolve(isPath ? path.resolve(cwd, specifier) : specifier, { paths: [cwd] });
}

function factoryOf(mod: unknown): PluginFactory | undefined {
  const m = mod as { createAdapter?: unknown; default?: unknown } | null;
  if (typeof m?.createAdapter === 'function') {
    return m.createAdapter as PluginFactory;
  }
  const d = m?.default as { createAdapter?: unknown } | ((...args: unknown[]) => unknown) | undefined;
  if (typeof d === 'function') {
    return d as PluginFactory;
  }
  return typeof d?.createAdapter === 'function' ? (d.createAdapter as PluginFactory) : undefined;
}

/** Loads a plugin module and checks that what it builds implements ProviderAdapter. Throws PluginLoadError. */
export function loadPlugin(specifier: string, owner: string, context: PluginContext, cwd?: string): ProviderAdapter {
  const where = `${owner}: plugin module '${specifier}'`;
  let file: string;
  try {
    file = resolvePlugin(specifier, cwd);
  } catch (err) {
    throw new PluginLoadError(`${where} cannot be found (paths are relative to ${cwd ?? process.cwd()})`, {
      cause: err,
    });
  }
  let mod: unknown;
  try {
    // Plugins are chosen at run time by the operator's catalog: a static import cannot name them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'load error';
    throw new PluginLoadError(`${where} failed to load: ${reason}`, { cause: err, ownCodeFailed: true });
  }
  const factory = factoryOf(mod);
  if (factory === undefined) {
    throw new PluginLoadError(`${where} exports no createAdapter(context) function`);
  }
  let adapter: unknown;
  try {
    adapter = factory(context);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'error';
    throw new PluginLoadError(`${where}: createAdapter threw: ${reason}`, { cause: err, ownCodeFailed: true });
  }
  const missing = METHODS.filter((m) => typeof (adapter as Record<string, unknown> | null)?.[m] !== 'function');
  if (missing.length > 0) {
    throw new PluginLoadError(
      `${where} does not implement the ProviderAdapter interface: missing ${missing.map((m) => `${m}()`).join(', ')}`,
    );
  }
  return withAbortSignals(adapter as ProviderAdapter);
}

/**
 * The plugin's adapter as the worker calls it: its methods receive a real AbortSignal, as the ProviderAdapter
 * contract promises a plugin (it may hand it to `fetch`), where the built-in adapters take the worker's lighter
 * CancelSignal. Everything else of the plugin's object is reached through the prototype, `this` included.
 */
function withAbortSignals(adapter: ProviderAdapter): ProviderAdapter {
  const wrapped = Object.create(adapter) as ProviderAdapter;
  wrapped.generate = (req, signal) => adapter.generate(req, abortSignalOf(signal));
  wrapped.stream = (req, signal) => adapter.stream(req, abortSignalOf(signal));
  wrapped.listModels = (target, signal) => adapter.listModels(target, abortSignalOf(signal));
  wrapped.healthCheck = (target, signal) => adapter.healthCheck(target, abortSignalOf(signal));
  wrapped.classifyError = (err, signal) => adapter.classifyError(err, signal && abortSignalOf(signal));
  if (typeof adapter.embed === 'function') {
    wrapped.embed = (req, signal) => adapter.embed!(req, abortSignalOf(signal));
  }
  return wrapped;
}
