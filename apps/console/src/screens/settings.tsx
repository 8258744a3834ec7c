import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { formatCount, formatDateTime, formatUsd } from '../format';
import { useAction, useLoad } from '../hooks';
import { listOf, type ModelItem, type Preference } from '../types';
import { ActionNote, Badge, ConfirmButton, Empty, Field, Loaded, Section } from '../ui';
import { loadModels, setPreference } from './models';

/** The contexts the seeds name; a user adds more. */
const BASE_CONTEXTS = ['writing', 'dictionary'];
const DEFAULT = '';
/**
 * The API's rule for a context (that of a native request's `context`). The browser compiles `pattern` with the `v`
 * flag, where a `-` in a class must be escaped.
 */
const CONTEXT_PATTERN = '[A-Za-z0-9_.:\\-]{1,64}';
const CONTEXT_RULE = new RegExp(`^${CONTEXT_PATTERN}$`, 'v');

function contextOf(p: Preference): string {
  return p.context;
}

async function loadPreferences(): Promise<Preference[]> {
  return listOf(await api<{ data: Preference[] } | Preference[]>('/api/v1/ai/preferences'));
}

function ModelSelect({
  label,
  models,
  value,
  onChange,
}: {
  label: string;
  models: ModelItem[];
  value: string;
  onChange: (v: string) => void;
}) {
  return (
    <Field label={label}>
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">— none (routing decides) —</option>
        {models.map((m) => (
          <option key={m.id} value={m.id}>
            {m.displayName && m.displayName !== m.id ? `${m.displayName} (${m.id})` : m.id}
          </option>
        ))}
      </select>
    </Field>
  );
}

function Editor({ models, prefs, reload }: { models: ModelItem[]; prefs: Preference[]; reload: () => void }) {
  const stored = new Map(prefs.map((p) => [contextOf(p), p.id]));
  const [choice, setChoice] = useState<Map<string, string>>(new Map(stored));
  const [contexts, setContexts] = useState<string[]>([]);
  const [newContext, setNewContext] = useState('');
  const [action, run] = useAction();
  useEffect(() => setChoice(new Map(prefs.map((p) => [contextOf(p), p.id]))), [prefs]);
  const all = [...new Set([...BASE_CONTEXTS, ...[...stored.keys()].filter((c) => c !== DEFAULT), ...contexts])];
  const set = (ctx: string, v: string) => setChoice((c) => new Map(c).set(ctx, v));
  const byId = new Map(models.map((m) => [m.id, m]));
  const candidate = newContext.trim();
  const canAdd = CONTEXT_RULE.test(candidate) && !all.includes(candidate);
  const addContext = () => {
    setContexts((cs) => [...cs, candidate]);
    setNewContext('');
  };

  const save = () =>
    run(async () => {
      let changed = 0;
      try {
        for (const ctx of [DEFAULT, ...all]) {
          const want = choice.get(ctx) ?? '';
          if (want === (stored.get(ctx) ?? '')) {
            continue;
          }
          if (want === '') {
            await api(
              ctx === DEFAULT ? '/api/v1/ai/preferences' : `/api/v1/ai/preferences/${encodeURIComponent(ctx)}`,
              { method: 'DELETE' },
            );
          } else {
            const m = byId.get(want);
            if (m === undefined) {
              throw new Error(`Model ${want} is not offered any more.`);
            }
            await setPreference(m, ctx === DEFAULT ? undefined : ctx);
          }
          changed++;
        }
      } finally {
        // Also when one change is refused: those made before it are stored, and the table must say so.
        reload();
      }
      return changed === 0 ? 'Nothing changed.' : `Saved ${changed} preference${changed === 1 ? '' : 's'}.`;
    });

  const reset = () =>
    run(async () => {
      try {
        for (const ctx of stored.keys()) {
          await api(ctx === DEFAULT ? '/api/v1/ai/preferences' : `/api/v1/ai/preferences/${encodeURIComponent(ctx)}`, {
            method: 'DELETE',
          });
        }
      } finally {
        reload();
      }
      return 'Preferences reset: routing decides again.';
    });

  return (
    <form
      aria-label="AI preferences"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <ModelSelect
        label="Default model"
        models={models}
        value={choice.get(DEFAULT) ?? ''}
        onChange={(v) => set(DEFAULT, v)}
      />
      <fieldset>
        <legend>Per-context models</legend>
        {all.map((ctx) => (
          <ModelSelect
            key={ctx}
            label={`Model for '${ctx}'`}
            models={models}
            value={choice.get(ctx) ?? ''}
            onChange={(v) => set(ctx, v)}
          />
        ))}
        <div class="inline">
          <Field label="New context" hint="1 to 64 letters, digits, or _ . : - (as the API takes them).">
            <input
              value={newContext}
              onInput={(e) => setNewContext(e.currentTarget.value)}
              onKeyDown={(e) => {
                // Enter here means Add context, as typing a context and pressing its button; it would submit (save) the
                // form around it instead, dropping the context typed.
                if (e.key === 'Enter') {
                  e.preventDefault();
                  if (canAdd) {
                    addContext();
                  }
                }
              }}
              pattern={CONTEXT_PATTERN}
              maxLength={64}
            />
          </Field>
          <button type="button" disabled={!canAdd} onClick={addContext}>
            Add context
          </button>
        </div>
      </fieldset>
      <div class="buttons">
        <button type="submit" disabled={action.busy}>
          Save
        </button>
        <ConfirmButton
          label="Reset all"
          disabled={action.busy || stored.size === 0}
          question={`Remove all ${stored.size} stored preference${stored.size === 1 ? '' : 's'}? Routing then picks the model.`}
          confirmLabel="Yes, reset all"
          onConfirm={() => void reset()}
        />
      </div>
      <ActionNote action={action} />
    </form>
  );
}

export function SettingsScreen() {
  const prefs = useLoad(loadPreferences, []);
  const models = useLoad(loadModels, []);
  return (
    <>
      <Section title="Current preferences">
        <Loaded load={prefs} what="preferences">
          {(list) =>
            list.length === 0 ? (
              <Empty>No preference yet: the routing policy picks the model.</Empty>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Context</th>
                    <th scope="col">Model</th>
                    <th scope="col">Routed by it</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Last 30 days</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((p) => (
                    <tr key={contextOf(p)} data-context={contextOf(p) || 'default'}>
                      <th scope="row">{contextOf(p) || 'default'}</th>
                      <td>
                        {p.modelDisplayName ?? p.model} <span class="muted">({p.id})</span>
                        {p.providerDisplayName && <div class="muted small">{p.providerDisplayName}</div>}
                        {p.available === false && <Badge kind="warn">unavailable now</Badge>}
                      </td>
                      <td>{formatCount(p.usageCount)}</td>
                      <td>{formatDateTime(p.lastUsedAt)}</td>
                      <td>
                        {p.last30Days
                          ? `${formatCount(p.last30Days.requests)} requests, ${formatUsd(p.last30Days.costUsd)}`
                          : '—'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Loaded>
      </Section>
      <Section title="Change preferences">
        <p class="muted">
          Requests with the <code>preference</code> policy (model <code>auto</code>) use these; workers may keep what
          they read for a few seconds.
        </p>
        <Loaded load={models} what="models">
          {(ms) => (
            <Loaded load={prefs} what="preferences">
              {(list) => <Editor models={ms} prefs={list} reload={prefs.reload} />}
            </Loaded>
          )}
        </Loaded>
      </Section>
    </>
  );
}
