import { useState } from 'preact/hooks';
import { api, qs } from '../api';
import { formatBytes, formatCount, formatPercent } from '../format';
import { REFRESH_MS, useAction, useLoad } from '../hooks';
import type { CacheStats, WarmReport } from '../types';
import { ActionNote, ConfirmButton, ErrorBox, Field, Loaded, Section, Stat } from '../ui';
import { loadModels } from './models';

const CACHE = '/api/v1/ai/admin/cache';

/** What a warming failure's code means, for those the cache itself answers; other codes are the API's. */
const WARM_ERRORS: Record<string, string> = {
  cache_disabled: 'the response cache is off for this model',
  cache_unavailable: "the cache's Redis could not be reached",
};

/**
 * What a skipped answer's reason means (`CacheStage.unstored`): it was answered, but is not in the cache. Its
 * `cache_disabled` is the model that answered (an alias's target, a fallback), not the model chosen, whose cache may
 * well be on.
 */
const SKIP_REASONS: Record<string, string> = {
  cache_disabled: 'answered, but the model that answered has its response cache off: it is not stored',
  cache_unavailable: "answered, but the cache's Redis could not be asked whether it is stored",
  content_filtered: 'answered, but a content filter cut the answer short: it is not stored',
  too_large: 'answered, but the answer is over CACHE_MAX_ENTRY_BYTES: it is not stored',
  not_stored: "answered, but the cache's Redis did not store it",
};

/** The prompts a warming could not fill, each with its reason, and a plain word when the cache is off. */
function WarmFailures({ model, prompts, report }: { model: string; prompts: string[]; report: WarmReport }) {
  const failures = report.results
    .map((r, i) => {
      const error = r.status === 'skipped' ? r.reason : r.error;
      const meaning = error === undefined ? undefined : (r.status === 'skipped' ? SKIP_REASONS : WARM_ERRORS)[error];
      return { ...r, error, meaning, prompt: prompts[i] ?? '' };
    })
    .filter((r) => r.status === 'failed' || r.status === 'skipped');
  if (failures.length === 0) {
    return null;
  }
  // Skipped as `cache_disabled`: the model that answered an alias has its cache off, not the model chosen.
  const disabled = failures.some((f) => f.status === 'failed' && f.error === 'cache_disabled');
  return (
    <div role="region" aria-label="Prompts not warmed">
      {disabled && (
        <p class="state warn" data-cache-disabled>
          The response cache is disabled for {model}: neither CACHE_ENABLED nor the model's catalog <code>cache</code>{' '}
          setting turns it on, so nothing is stored or served from the cache for it.
        </p>
      )}
      <ul>
        {failures.map((f, i) => (
          <li key={i} data-warm-error={f.error ?? 'unknown'}>
            “{f.prompt}”: <code>{f.error ?? 'unknown error'}</code>
            {f.meaning !== undefined && ` (${f.meaning})`}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Which models the cache serves: the gateway's default (CACHE_ENABLED) and each model's catalog setting over it. */
function CacheScope({ s }: { s: CacheStats }) {
  if (s.enabledDeployments.length === 0) {
    return (
      <p class="state warn" data-cache-disabled>
        The response cache is off for every model: CACHE_ENABLED=false, and no model's catalog <code>cache</code>{' '}
        setting turns it on.
      </p>
    );
  }
  return (
    <p class="muted small" data-cache-scope>
      {s.enabledByDefault ? 'On by default (CACHE_ENABLED); cached: ' : 'Off by default; on by catalog setting for: '}
      {s.enabledDeployments.join(', ')}.
    </p>
  );
}

export function CacheScreen() {
  const stats = useLoad(() => api<CacheStats>(`${CACHE}/stats`), [], { refreshMs: REFRESH_MS });
  const models = useLoad(loadModels, []);
  const [model, setModel] = useState('');
  const [prompts, setPrompts] = useState('');
  const [warmModel, setWarmModel] = useState('');
  const [action, run] = useAction();
  const [warm, runWarm, clearWarm] = useAction();
  const [report, setReport] = useState<{ model: string; prompts: string[]; report: WarmReport } | null>(null);
  // The model lists of Clear and Warm: without it they hold no model, which must not read as "no model to choose".
  const modelsFailed =
    models.state === 'error' ? <ErrorBox message={`Models: ${models.error}`} onRetry={models.reload} /> : null;
  return (
    <>
      <Section
        title="Statistics"
        actions={
          <button type="button" class="secondary" onClick={stats.reload}>
            Refresh
          </button>
        }
      >
        <Loaded load={stats} what="cache statistics">
          {(s) => (
            <>
              <CacheScope s={s} />
              <div class="stats">
                <Stat label="Hit rate" value={formatPercent(s.hitRate)} />
                <Stat label="Hits" value={formatCount(s.hits)} />
                <Stat label="Misses" value={formatCount(s.misses)} />
                <Stat label="Bypasses" value={formatCount(s.bypasses)} />
                {s.stale !== undefined && <Stat label="Stale answers" value={formatCount(s.stale)} />}
                <Stat label="Entries" value={formatCount(s.entries)} />
                <Stat label="Size" value={formatBytes(s.bytes)} />
              </div>
            </>
          )}
        </Loaded>
      </Section>
      <Section title="Clear">
        {modelsFailed}
        <div class="toolbar">
          <Field label="Model to clear">
            <select value={model} onChange={(e) => setModel(e.currentTarget.value)}>
              <option value="">— choose a model —</option>
              {(models.data ?? []).map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id}
                </option>
              ))}
            </select>
          </Field>
          <button
            type="button"
            disabled={action.busy || model === ''}
            onClick={() =>
              void run(async () => {
                const r = await api<{ deleted?: number }>(`${CACHE}${qs({ model })}`, { method: 'DELETE' });
                stats.reload();
                return `Cleared ${model}${r?.deleted === undefined ? '' : `: ${r.deleted} entries`}.`;
              })
            }
          >
            Clear model
          </button>
          <ConfirmButton
            label="Clear all"
            disabled={action.busy}
            question="Clear every entry of the response cache? Until it fills again, every request goes to a provider."
            confirmLabel="Yes, clear all"
            onConfirm={() =>
              void run(async () => {
                const r = await api<{ deleted?: number }>(CACHE, { method: 'DELETE' });
                stats.reload();
                return `Cache cleared${r?.deleted === undefined ? '' : `: ${r.deleted} entries`}.`;
              })
            }
          />
        </div>
        <ActionNote action={action} />
      </Section>
      <Section title="Warm">
        {modelsFailed}
        <form
          aria-label="Warm the cache"
          onInvalidCapture={() => {
            clearWarm();
            setReport(null);
          }}
          onSubmit={(e) => {
            e.preventDefault();
            setReport(null);
            void runWarm(async () => {
              const list = prompts
                .split('\n')
                .map((p) => p.trim())
                .filter((p) => p !== '');
              const model = warmModel;
              const r = await api<WarmReport>(`${CACHE}/warm`, {
                method: 'POST',
                body: { requests: list.map((p) => ({ model, messages: [{ role: 'user', content: p }] })) },
              });
              setReport({ model, prompts: list, report: r });
              stats.reload();
              const skipped = (r.skipped ?? 0) > 0 ? `, ${r.skipped} not stored` : '';
              return `Warmed ${r.warmed} of ${list.length} prompts (${r.alreadyCached} already cached${skipped}, ${r.failed} failed).`;
            });
          }}
        >
          <Field label="Model">
            <select required value={warmModel} onChange={(e) => setWarmModel(e.currentTarget.value)}>
              <option value="">— choose a model —</option>
              {(models.data ?? []).map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Prompts" hint="One prompt per line.">
            <textarea rows={4} value={prompts} required onInput={(e) => setPrompts(e.currentTarget.value)} />
          </Field>
          <button type="submit" disabled={warm.busy}>
            Warm
          </button>
        </form>
        <ActionNote action={warm} />
        {report !== null && <WarmFailures {...report} />}
      </Section>
    </>
  );
}
