import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { formatDateTime, formatMs, formatPercent, formatPrice } from '../format';
import { useAction, useLoad } from '../hooks';
import { listOf, type ModelItem } from '../types';
import { ActionNote, Badge, Empty, Field, HealthBadge, Loaded } from '../ui';

type SortKey = 'name' | 'price' | 'latency' | 'success';

const SORTS: Record<SortKey, { label: string; cmp: (a: ModelItem, b: ModelItem) => number }> = {
  name: { label: 'Name', cmp: (a, b) => a.id.localeCompare(b.id) },
  price: {
    label: 'Price (lowest first)',
    cmp: (a, b) =>
      a.pricing.promptPer1k + a.pricing.completionPer1k - (b.pricing.promptPer1k + b.pricing.completionPer1k),
  },
  latency: {
    label: 'Latency (fastest first)',
    cmp: (a, b) => (a.avgLatencyMs ?? Infinity) - (b.avgLatencyMs ?? Infinity),
  },
  success: { label: 'Success rate (highest first)', cmp: (a, b) => (b.successRate ?? -1) - (a.successRate ?? -1) },
};

export async function loadModels(): Promise<ModelItem[]> {
  return listOf(await api<{ data: ModelItem[] }>('/api/v1/ai/models'));
}

/** Sets the caller's default model (no context) or the model of one context. */
export async function setPreference(m: { provider: string; model: string }, context?: string): Promise<void> {
  await api('/api/v1/ai/preferences', {
    method: 'PUT',
    body:
      context === undefined
        ? { provider: m.provider, model: m.model }
        : { context, provider: m.provider, model: m.model },
  });
}

/**
 * Why a deployment takes no request now. A cooldown is not a failure (its provider asked for a wait, with a 429, 503
 * or 529 and Retry-After): it says so, and until when, instead of a plain "unavailable".
 */
function Unavailable({ m }: { m: ModelItem }) {
  if (m.unavailableReason === 'cooldown') {
    return <Badge kind="warn">cooling down until {formatDateTime(m.cooldownUntil)}</Badge>;
  }
  return <Badge kind="warn">{m.unavailableReason ? `unavailable: ${m.unavailableReason}` : 'unavailable'}</Badge>;
}

function ModelRow({ m }: { m: ModelItem }) {
  const [action, run] = useAction();
  const [context, setContext] = useState('writing');
  const name = m.displayName ?? m.id;
  const useForContext = () =>
    void run(async () => {
      await setPreference(m, context.trim());
      return `${name} is your model for '${context.trim()}'.`;
    });
  return (
    <tr data-model={m.id}>
      <th scope="row">
        <div class="model-name">{name}</div>
        <div class="muted">{m.id}</div>
        {m.description && <div class="muted small">{m.description}</div>}
        {m.recommended && <Badge kind="recommended">recommended</Badge>}
        {m.available === false && <Unavailable m={m} />}
      </th>
      <td>{formatPrice(m.pricing.promptPer1k, m.pricing.completionPer1k)}</td>
      <td>{formatMs(m.avgLatencyMs)}</td>
      <td>{formatPercent(m.successRate)}</td>
      <td>
        <HealthBadge status={m.health} />
      </td>
      <td>
        {m.capabilities.map((c) => (
          <Badge key={c}>{c}</Badge>
        ))}
        <div class="muted small">{m.contextWindow.toLocaleString('en-US')} tokens</div>
      </td>
      <td class="actions">
        <button
          type="button"
          disabled={action.busy}
          aria-label={`Use ${name} as default`}
          onClick={() =>
            void run(async () => {
              await setPreference(m);
              return `${name} is your default model.`;
            })
          }
        >
          Use as default
        </button>
        <div class="inline">
          <input
            size={9}
            value={context}
            onInput={(e) => setContext(e.currentTarget.value)}
            onKeyDown={(e) => {
              // Enter does what the button beside it does (no form around them would submit).
              if (e.key === 'Enter' && !action.busy && context.trim() !== '') {
                e.preventDefault();
                useForContext();
              }
            }}
            list="known-contexts"
            aria-label={`Context for ${name}`}
          />
          <button
            type="button"
            disabled={action.busy || context.trim() === ''}
            aria-label={`Use ${name} for the context`}
            onClick={useForContext}
          >
            Use for context
          </button>
        </div>
        <ActionNote action={action} />
      </td>
    </tr>
  );
}

export function ModelsScreen() {
  const load = useLoad(loadModels, []);
  const [filter, setFilter] = useState('');
  const [capability, setCapability] = useState('');
  const [sort, setSort] = useState<SortKey>('name');
  const capabilities = useMemo(
    () => [...new Set((load.data ?? []).flatMap((m) => m.capabilities))].sort(),
    [load.data],
  );
  return (
    <Loaded load={load} what="models">
      {(models) => {
        const q = filter.trim().toLowerCase();
        const shown = models
          .filter((m) => q === '' || `${m.id} ${m.displayName ?? ''} ${m.description ?? ''}`.toLowerCase().includes(q))
          .filter((m) => capability === '' || m.capabilities.includes(capability))
          .sort(SORTS[sort].cmp);
        return (
          <>
            <div class="toolbar" role="search">
              <Field label="Filter">
                <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
              </Field>
              <Field label="Capability">
                <select value={capability} onChange={(e) => setCapability(e.currentTarget.value)}>
                  <option value="">any</option>
                  {capabilities.map((c) => (
                    <option key={c} value={c}>
                      {c}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Sort by">
                <select value={sort} onChange={(e) => setSort(e.currentTarget.value as SortKey)}>
                  {(Object.keys(SORTS) as SortKey[]).map((k) => (
                    <option key={k} value={k}>
                      {SORTS[k].label}
                    </option>
                  ))}
                </select>
              </Field>
            </div>
            <datalist id="known-contexts">
              <option value="writing" />
              <option value="dictionary" />
            </datalist>
            {shown.length === 0 ? (
              <Empty>
                {models.length === 0 ? 'No model is enabled on this gateway.' : 'No model matches the filter.'}
              </Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Models, {shown.length} shown</caption>
                  <thead>
                    <tr>
                      <th scope="col">Model</th>
                      <th scope="col">Price per 1k (prompt / completion)</th>
                      <th scope="col">Avg latency</th>
                      <th scope="col">Success</th>
                      <th scope="col">Health</th>
                      <th scope="col">Capabilities</th>
                      <th scope="col">Preferences</th>
                    </tr>
                  </thead>
                  <tbody>
                    {shown.map((m) => (
                      <ModelRow key={m.id} m={m} />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </>
        );
      }}
    </Loaded>
  );
}
