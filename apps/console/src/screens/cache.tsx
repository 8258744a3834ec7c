import { useState } from 'preact/hooks';
import { api, qs } from '../api';
import { formatCount, formatPercent } from '../format';
import { useAction, useLoad } from '../hooks';
import type { CacheStats } from '../types';
import { ActionNote, Field, Loaded, Section, Stat } from '../ui';
import { loadModels } from './models';

const CACHE = '/api/v1/ai/admin/cache';

function bytes(n: number): string {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`;
}

export function CacheScreen() {
  const stats = useLoad(() => api<CacheStats>(`${CACHE}/stats`), []);
  const models = useLoad(loadModels, []);
  const [model, setModel] = useState('');
  const [prompts, setPrompts] = useState('');
  const [warmModel, setWarmModel] = useState('');
  const [action, run] = useAction();
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
            <div class="stats">
              <Stat label="Hit rate" value={formatPercent(s.hitRate)} />
              <Stat label="Hits" value={formatCount(s.hits)} />
              <Stat label="Misses" value={formatCount(s.misses)} />
              <Stat label="Bypasses" value={formatCount(s.bypasses)} />
              {s.stale !== undefined && <Stat label="Stale answers" value={formatCount(s.stale)} />}
              <Stat label="Entries" value={formatCount(s.entries)} />
              <Stat label="Size" value={bytes(s.bytes)} />
            </div>
          )}
        </Loaded>
      </Section>
      <Section title="Clear">
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
          <button
            type="button"
            class="danger"
            disabled={action.busy}
            onClick={() =>
              void run(async () => {
                const r = await api<{ deleted?: number }>(CACHE, { method: 'DELETE' });
                stats.reload();
                return `Cache cleared${r?.deleted === undefined ? '' : `: ${r.deleted} entries`}.`;
              })
            }
          >
            Clear all
          </button>
        </div>
      </Section>
      <Section title="Warm">
        <form
          aria-label="Warm the cache"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              const list = prompts
                .split('\n')
                .map((p) => p.trim())
                .filter((p) => p !== '');
              const r = await api<{ warmed: number; alreadyCached: number; failed: number }>(`${CACHE}/warm`, {
                method: 'POST',
                body: { requests: list.map((p) => ({ model: warmModel, messages: [{ role: 'user', content: p }] })) },
              });
              stats.reload();
              return `Warmed ${r.warmed} of ${list.length} prompts (${r.alreadyCached} already cached, ${r.failed} failed).`;
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
          <button type="submit" disabled={action.busy}>
            Warm
          </button>
        </form>
      </Section>
      <ActionNote action={action} />
    </>
  );
}
