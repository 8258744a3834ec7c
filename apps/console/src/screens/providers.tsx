import { useState } from 'preact/hooks';
import { api, qs } from '../api';
import { Sparkline } from '../charts';
import { formatCount, formatDateTime, formatMs, formatPercent, formatQuotaWindow, formatUsd } from '../format';
import { REFRESH_MS, useAction, useLoad } from '../hooks';
import {
  listOf,
  type ConnectionTest,
  type GatewayItem,
  type HealthHistory,
  type ProviderItem,
  type ProviderQuota,
} from '../types';
import { ActionNote, Badge, Empty, ErrorBox, Field, HealthBadge, Loaded, Section } from '../ui';

const ROUTINGS = ['direct', 'gateway', 'auto'];

const path = (id: string, rest = '') => `/api/v1/ai/admin/providers/${encodeURIComponent(id)}${rest}`;

/**
 * The gateway a provider goes through on the `gateway` and `auto` routes (the API requires one for them), from the
 * configured gateways; `''` is none. `gateways` null: their list could not be loaded (its error shows), so none is
 * known, which does not mean none is configured.
 */
function GatewaySelect({
  gateways,
  routing,
  value,
  onChange,
}: {
  gateways: GatewayItem[] | null;
  routing: string;
  value: string;
  onChange: (v: string) => void;
}) {
  return (
    <Field
      label="Gateway"
      hint={
        gateways === null
          ? 'The gateways could not be loaded: retry above.'
          : gateways.length === 0
            ? 'No gateway is configured: add one on the Gateway screen first.'
            : 'Required for the gateway and auto routes.'
      }
    >
      <select required={routing !== 'direct'} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">— none —</option>
        {(gateways ?? []).map((g) => (
          <option key={g.id} value={g.id}>
            {g.name ?? g.id}
          </option>
        ))}
      </select>
    </Field>
  );
}

/**
 * The breakers of the provider's deployments: one word when they agree, else each one that is not closed or is
 * cooling down (its provider asked for a wait: no worker calls it until then, though its breaker may say closed),
 * with the admin API's reset (it closes that deployment's breaker and ends its cooldown at once, for every worker).
 */
function Circuits({ p, reload }: { p: ProviderItem; reload: () => void }) {
  const [action, run] = useAction();
  const circuits = p.circuits ?? [];
  if (circuits.length === 0) {
    return <span class="muted">—</span>;
  }
  const notClosed = circuits.filter((c) => c.state !== 'closed' || (c.cooldownUntil ?? null) !== null);
  if (notClosed.length === 0) {
    return <HealthBadge status="closed" />;
  }
  const reset = (deployment: string) =>
    run(async () => {
      // A deployment's id is `provider/model`; the model's name may itself hold a slash.
      const model = deployment.startsWith(`${p.id}/`) ? deployment.slice(p.id.length + 1) : undefined;
      await api(path(p.id, `/circuit/reset${qs({ model })}`), { method: 'POST' });
      reload();
      return `Circuit of ${deployment} closed.`;
    });
  return (
    <>
      <ul class="plain">
        {notClosed.map((c) => (
          <li key={c.id} data-circuit={c.id}>
            <HealthBadge status={c.state} />{' '}
            {c.cooldownUntil && <Badge kind="warn">cooling down until {formatDateTime(c.cooldownUntil)}</Badge>}{' '}
            <span class="small">{c.id}</span>{' '}
            <button
              type="button"
              class="secondary"
              disabled={action.busy}
              aria-label={`Reset circuit of ${c.id}`}
              onClick={() => void reset(c.id)}
            >
              Reset
            </button>
          </li>
        ))}
      </ul>
      <ActionNote action={action} />
    </>
  );
}

/** The monitor suggests the gateway when the direct route fails and the gateway route works. */
export function suggestsGateway(t: ConnectionTest): boolean {
  return t.suggestion?.code === 'use_gateway';
}

/** The change the suggestion names (routing and gateway), or the plain move to the gateway route. */
function gatewayPatch(t: ConnectionTest): Record<string, unknown> {
  return t.suggestion?.patch ?? { routing: 'gateway' };
}

function History({ id }: { id: string }) {
  const load = useLoad(
    async () => {
      const from = new Date(Date.now() - 86_400_000).toISOString();
      return api<HealthHistory>(path(id, `/health${qs({ from, limit: 30 })}`));
    },
    [id],
    { refreshMs: REFRESH_MS },
  );
  if (load.state === 'error') {
    return (
      <span class="muted small" title={load.error}>
        history unavailable
      </span>
    );
  }
  if (load.data === undefined) {
    return <span class="muted small">…</span>;
  }
  const checks = load.data.checks.slice(0, 30).reverse();
  return (
    <span class="history">
      {checks.length === 0 ? (
        <span class="muted small">no checks yet</span>
      ) : (
        <Sparkline checks={checks} label={`${id} health history`} />
      )}
      <span class="muted small"> uptime {formatPercent(load.data.uptime)}</span>
    </span>
  );
}

function TestResult({ t, onRoute }: { t: ConnectionTest; onRoute: () => void }) {
  return (
    <div class="test-result" role="region" aria-label={`Connection test of ${t.providerId ?? 'the settings'}`}>
      <ul>
        {t.routes.map((r) => (
          <li key={r.route} data-route={r.route} class={r.ok ? 'ok' : 'fail'}>
            <strong>{r.route}</strong>: {r.ok ? 'works' : 'fails'} in {formatMs(r.latencyMs)}
            {r.status !== undefined && <> (HTTP {r.status})</>}
            {r.models && r.models.length > 0 && <div class="muted small">models: {r.models.join(', ')}</div>}
            {r.diagnosis && (
              <div class="diagnosis" data-code={r.diagnosis.code}>
                <Badge kind="warn">{r.diagnosis.code}</Badge> {r.diagnosis.message}
                <div class="suggestion">Suggestion: {r.diagnosis.suggestion}</div>
              </div>
            )}
          </li>
        ))}
      </ul>
      {t.suggestion && (
        <div class="suggestion" data-suggestion={t.suggestion.code}>
          <p>{t.suggestion.message}</p>
          {t.suggestion.yaml && <pre class="code">{t.suggestion.yaml}</pre>}
        </div>
      )}
      {suggestsGateway(t) && t.providerId !== null && (
        <button type="button" onClick={onRoute}>
          Route {t.providerId} through the gateway
        </button>
      )}
    </div>
  );
}

/** What the Edit form holds: the settings it changes. */
export interface EditedSettings {
  baseUrl: string;
  routing: string;
  gatewayId: string;
  /** Empty: the stored key is kept. */
  apiKey: string;
}

/**
 * The connection test's body for a saved provider's settings as the Edit form changed them: the rest as stored (its
 * plugin, health path, probe and models, as the monitor reads them for a saved provider's test), and `providerId`,
 * so that they are read as its PATCH would read them: an empty key field keeps the stored key, which the monitor
 * reads and the page never sees.
 */
export function editTestBody(p: ProviderItem, f: EditedSettings): Record<string, unknown> {
  const models = [...(p.models ?? [])].sort((a, b) => Number(b.enabled !== false) - Number(a.enabled !== false));
  return {
    kind: p.kind ?? 'openai',
    baseUrl: f.baseUrl,
    routing: f.routing,
    ...(f.gatewayId !== '' ? { gatewayId: f.gatewayId } : {}),
    ...(f.apiKey !== '' ? { apiKey: f.apiKey } : {}),
    ...(p.plugin !== undefined ? { plugin: p.plugin } : {}),
    ...(p.healthPath !== undefined ? { healthPath: p.healthPath } : {}),
    ...(p.probe !== undefined ? { probe: p.probe } : {}),
    ...(models.length > 0 ? { models: models.map((m) => m.upstreamName ?? m.name) } : {}),
    providerId: p.id,
  };
}

function EditForm({ p, gateways, onSaved }: { p: ProviderItem; gateways: GatewayItem[] | null; onSaved: () => void }) {
  const [baseUrl, setBaseUrl] = useState(p.baseUrl ?? '');
  const [routing, setRouting] = useState(p.routing ?? 'direct');
  const [gatewayId, setGatewayId] = useState(p.gatewayId ?? '');
  const [apiKey, setApiKey] = useState('');
  const [action, run, clear] = useAction();
  const [test, runTest] = useAction();
  // The result shows for the settings it tested: any change since hides it (no stale "works" next to a new URL).
  const fingerprint = `${baseUrl}\n${routing}\n${gatewayId}\n${apiKey}`;
  const [tested, setTested] = useState<{ for: string; result: ConnectionTest } | null>(null);
  return (
    <form
      class="inline-form"
      aria-label={`Edit ${p.id}`}
      onInvalidCapture={clear}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const body: Record<string, unknown> = { baseUrl, routing };
          if (gatewayId !== (p.gatewayId ?? '')) {
            body.gatewayId = gatewayId === '' ? null : gatewayId;
          }
          if (apiKey !== '') {
            body.apiKey = apiKey;
          }
          await api(path(p.id), { method: 'PATCH', body });
          setApiKey('');
          onSaved();
          return `${p.id} saved.`;
        });
      }}
    >
      <Field label="Base URL">
        <input type="url" value={baseUrl} onInput={(e) => setBaseUrl(e.currentTarget.value)} />
      </Field>
      <Field label="Routing">
        <select value={routing} onChange={(e) => setRouting(e.currentTarget.value)}>
          {ROUTINGS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <GatewaySelect gateways={gateways} routing={routing} value={gatewayId} onChange={setGatewayId} />
      <Field
        label="API key"
        hint={
          p.hasApiKey === false
            ? 'Write-only: none is stored.'
            : 'Write-only: leave empty to keep the stored key (Test uses it too).'
        }
      >
        <input
          type="password"
          autoComplete="new-password"
          value={apiKey}
          onInput={(e) => setApiKey(e.currentTarget.value)}
        />
      </Field>
      <button
        type="button"
        class="secondary"
        disabled={test.busy || baseUrl === ''}
        aria-label={`Test these settings of ${p.id}`}
        onClick={() =>
          void runTest(async () => {
            const settings = { baseUrl, routing, gatewayId, apiKey };
            const result = await api<ConnectionTest>('/api/v1/ai/admin/providers/test', {
              method: 'POST',
              body: editTestBody(p, settings),
            });
            setTested({ for: fingerprint, result });
            return null;
          })
        }
      >
        {test.busy ? 'Testing…' : 'Test'}
      </button>
      <button type="submit" disabled={action.busy}>
        Save
      </button>
      <ActionNote action={test} />
      <ActionNote action={action} />
      {tested !== null && tested.for === fingerprint && <TestResult t={tested.result} onRoute={() => undefined} />}
    </form>
  );
}

interface ProviderModels {
  refreshedAt: string | null;
  notInCatalog: { name: string; capabilities: string[]; firstSeenAt: string }[];
  noLongerServed: { name: string; upstreamName: string; enabled: boolean }[];
}

/** Adds a served model to the catalog, disabled: an admin enables it once its prices are right. */
function AddModel({ id, m, onAdded }: { id: string; m: ProviderModels['notInCatalog'][number]; onAdded: () => void }) {
  const [prompt, setPrompt] = useState('');
  const [completion, setCompletion] = useState('');
  const [context, setContext] = useState('8192');
  const [action, run, clear] = useAction();
  return (
    <form
      class="inline-form"
      aria-label={`Add ${m.name}`}
      onInvalidCapture={clear}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          await api(path(id, '/models'), {
            method: 'POST',
            body: {
              name: m.name,
              promptPer1k: Number(prompt),
              completionPer1k: Number(completion),
              contextWindow: Number(context),
              capabilities: m.capabilities,
              enabled: false,
            },
          });
          onAdded();
          return `${m.name} added, disabled until you enable it.`;
        });
      }}
    >
      <strong>{m.name}</strong>
      <span class="muted small">{m.capabilities.join(', ')}</span>
      <Field label="Prompt $/1k">
        <input
          type="number"
          min={0}
          step="any"
          required
          size={6}
          value={prompt}
          onInput={(e) => setPrompt(e.currentTarget.value)}
        />
      </Field>
      <Field label="Completion $/1k">
        <input
          type="number"
          min={0}
          step="any"
          required
          size={6}
          value={completion}
          onInput={(e) => setCompletion(e.currentTarget.value)}
        />
      </Field>
      <Field label="Context window">
        <input
          type="number"
          min={1}
          step={1}
          required
          size={7}
          value={context}
          onInput={(e) => setContext(e.currentTarget.value)}
        />
      </Field>
      <button type="submit" disabled={action.busy}>
        Add {m.name}
      </button>
      <ActionNote action={action} />
    </form>
  );
}

function DiscoveredModels({ id }: { id: string }) {
  const load = useLoad(() => api<ProviderModels>(path(id, '/models')), [id]);
  return (
    <Loaded load={load} what="discovered models">
      {(m) => (
        <div class="discovered">
          {m.refreshedAt === null ? (
            <Empty>The monitor has not read this provider's model list yet.</Empty>
          ) : m.notInCatalog.length === 0 ? (
            <Empty>
              The provider serves no model the catalog does not list (read {formatDateTime(m.refreshedAt)}).
            </Empty>
          ) : (
            m.notInCatalog.map((d) => <AddModel key={d.name} id={id} m={d} onAdded={load.reload} />)
          )}
          {m.noLongerServed.length > 0 && (
            <p class="muted">In the catalog but no longer served: {m.noLongerServed.map((x) => x.name).join(', ')}</p>
          )}
        </div>
      )}
    </Loaded>
  );
}

/** The provider's rate limits as its response headers last said, and when and on which route. */
function Quota({ q }: { q: ProviderQuota | null | undefined }) {
  if (q === null || q === undefined) {
    return <span class="muted">not reported</span>;
  }
  const lines = [formatQuotaWindow(q.requests, 'requests'), formatQuotaWindow(q.tokens, 'tokens')].filter(
    (l): l is string => l !== null,
  );
  return (
    <div class="small" data-quota>
      {lines.map((l) => (
        <div key={l}>{l}</div>
      ))}
      <div class="muted">
        {q.route} · seen {formatDateTime(q.observedAt)}
      </div>
    </div>
  );
}

function ProviderRow({
  p,
  gateways,
  reload,
  onTested,
  onRouted,
  test,
}: {
  p: ProviderItem;
  gateways: GatewayItem[] | null;
  reload: () => void;
  onTested: (t: ConnectionTest) => void;
  /** The provider now goes through the gateway: its test's suggestion to do so is done. */
  onRouted: () => void;
  test?: ConnectionTest;
}) {
  const [action, run] = useAction();
  const [open, setOpen] = useState<'edit' | 'models' | null>(null);
  const routeThroughGateway = () =>
    run(async () => {
      await api(path(p.id), {
        method: 'PATCH',
        body: test === undefined ? { routing: 'gateway' } : gatewayPatch(test),
      });
      onRouted();
      reload();
      return `${p.id} now goes through the gateway.`;
    });
  return (
    <tr data-provider={p.id}>
      <th scope="row">
        <div class="model-name">{p.displayName ?? p.name ?? p.id}</div>
        <div class="muted small">
          {p.id}
          {p.kind ? ` · ${p.kind}` : ''}
        </div>
      </th>
      <td>
        <Badge kind={`route-${p.routing ?? 'direct'}`}>{p.routing ?? 'direct'}</Badge>
        {p.routeInUse && <div class="muted small">in use: {p.routeInUse}</div>}
      </td>
      <td>
        <HealthBadge status={p.health?.status} />
        {p.health && (
          <div class="muted small">
            {p.health.consecutiveFailures} consecutive failures · last check {formatDateTime(p.health.lastCheckAt)}
            {p.health.lastError && <div>last error: {p.health.lastError}</div>}
            {p.health.unservedModels && p.health.unservedModels.length > 0 && (
              <div data-unserved title="Requests still reach them, after the provider's other deployments.">
                not in its model list at the last check (tried last): {p.health.unservedModels.join(', ')}
              </div>
            )}
          </div>
        )}
        <History id={p.id} />
      </td>
      <td>
        <Circuits p={p} reload={reload} />
      </td>
      <td>
        <Quota q={p.quota} />
      </td>
      <td>
        {p.usage24h ? (
          <div class="small">
            {formatCount(p.usage24h.requests)} requests, {formatCount(p.usage24h.failures)} failed
            <br />
            {formatCount(p.usage24h.cacheHits)} cache hits, {formatUsd(p.usage24h.costUsd)}
          </div>
        ) : (
          <span class="muted">—</span>
        )}
      </td>
      <td data-enabled={p.enabled ? 'true' : 'false'}>{p.enabled ? 'enabled' : 'disabled'}</td>
      <td class="actions">
        <button
          type="button"
          disabled={action.busy}
          aria-label={`${p.enabled ? 'Disable' : 'Enable'} ${p.id}`}
          onClick={() =>
            void run(async () => {
              // The state the button names, not a flip: on a stale page (someone else changed it meanwhile) a
              // flip would do the opposite of what the admin clicked.
              const answered = await api<ProviderItem>(path(p.id, '/toggle'), {
                method: 'POST',
                body: { enabled: !p.enabled },
              });
              reload();
              return `${p.id} ${answered.enabled ? 'enabled' : 'disabled'}.`;
            })
          }
        >
          {p.enabled ? 'Disable' : 'Enable'}
        </button>
        <button
          type="button"
          disabled={action.busy}
          aria-label={`Test connection of ${p.id}`}
          onClick={() =>
            void run(async () => {
              onTested(await api<ConnectionTest>(path(p.id, '/test'), { method: 'POST' }));
              return null;
            })
          }
        >
          {action.busy ? 'Working…' : 'Test connection'}
        </button>
        <button
          type="button"
          class="secondary"
          aria-expanded={open === 'edit'}
          onClick={() => setOpen(open === 'edit' ? null : 'edit')}
        >
          Edit
        </button>
        <button
          type="button"
          class="secondary"
          aria-expanded={open === 'models'}
          onClick={() => setOpen(open === 'models' ? null : 'models')}
        >
          Discovered models
        </button>
        <ActionNote action={action} />
        {test && <TestResult t={test} onRoute={() => void routeThroughGateway()} />}
        {open === 'edit' && <EditForm p={p} gateways={gateways} onSaved={reload} />}
        {open === 'models' && <DiscoveredModels id={p.id} />}
      </td>
    </tr>
  );
}

interface Template {
  name: string;
  description: string;
  apiKeyEnv: string | null;
}

/** The two ways to start a provider, as the API accepts them: a template's name, or a kind (its own list). */
interface ProviderStarts {
  data: Template[];
  kinds: string[];
}

/** Model names as typed: comma-separated, blanks dropped. */
export function modelNames(text: string): string[] {
  return text
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

const EMPTY_SCRATCH = {
  id: '',
  baseUrl: '',
  apiKey: '',
  plugin: '',
  models: '',
  prompt: '',
  completion: '',
  context: '8192',
};

function CreateForm({ gateways, onCreated }: { gateways: GatewayItem[] | null; onCreated: () => void }) {
  const starts = useLoad(() => api<ProviderStarts>('/api/v1/ai/admin/providers/templates'), []);
  const templates = starts.data?.data ?? [];
  const [template, setTemplate] = useState('');
  const [kind, setKind] = useState('openai');
  const [routing, setRouting] = useState('direct');
  const [gatewayId, setGatewayId] = useState('');
  const [f, setF] = useState(EMPTY_SCRATCH);
  const set = (field: keyof typeof EMPTY_SCRATCH) => (e: { currentTarget: { value: string } }) => {
    const v = e.currentTarget.value;
    setF((old) => ({ ...old, [field]: v }));
  };
  const [action, run, clear] = useAction();
  const chosen = templates.find((t) => t.name === template);
  const names = modelNames(f.models);
  return (
    <form
      aria-label="Create provider"
      onInvalidCapture={clear}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          // A template brings every setting; the id and key override it (the key's variable otherwise).
          const body: Record<string, unknown> =
            chosen !== undefined
              ? { template: chosen.name, ...(f.id ? { id: f.id } : {}), ...(f.apiKey ? { apiKey: f.apiKey } : {}) }
              : {
                  id: f.id,
                  kind,
                  baseUrl: f.baseUrl,
                  routing,
                  ...(gatewayId !== '' ? { gatewayId } : {}),
                  ...(f.apiKey ? { apiKey: f.apiKey } : {}),
                  ...(kind === 'plugin' ? { plugin: f.plugin } : {}),
                  // The API needs prices and a context window per model: the form's apply to each listed one.
                  models: names.map((name) => ({
                    name,
                    promptPer1k: Number(f.prompt),
                    completionPer1k: Number(f.completion),
                    contextWindow: Number(f.context),
                  })),
                };
          const created = await api<{ id: string }>('/api/v1/ai/admin/providers', { method: 'POST', body });
          // The next provider starts from an empty form: never a previous id or key.
          setF(EMPTY_SCRATCH);
          onCreated();
          return `Provider ${created.id} created.`;
        });
      }}
    >
      {starts.state === 'error' && <ErrorBox message={`Templates: ${starts.error}`} onRetry={starts.reload} />}
      <div class="toolbar">
        <Field label="Template">
          <select value={template} onChange={(e) => setTemplate(e.currentTarget.value)}>
            <option value="">none (from scratch)</option>
            {templates.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name === 'zai' ? 'Z.ai through the gateway' : t.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Provider id">
          <input value={f.id} required={chosen === undefined} placeholder={chosen?.name ?? ''} onInput={set('id')} />
        </Field>
        {chosen === undefined && (
          <>
            <Field label="Kind" hint="openai also serves vLLM, llama.cpp, LM Studio and other compatible servers.">
              <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
                {(starts.data?.kinds ?? [kind]).map((k) => (
                  <option key={k} value={k}>
                    {k}
                  </option>
                ))}
              </select>
            </Field>
            {kind === 'plugin' && (
              <Field
                label="Plugin module"
                hint="The module implementing the adapter interface, as the gateway loads it."
              >
                <input required value={f.plugin} onInput={set('plugin')} />
              </Field>
            )}
            <Field label="Base URL">
              <input type="url" required value={f.baseUrl} onInput={set('baseUrl')} />
            </Field>
            <Field label="Routing">
              <select value={routing} onChange={(e) => setRouting(e.currentTarget.value)}>
                {ROUTINGS.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </Field>
            <GatewaySelect gateways={gateways} routing={routing} value={gatewayId} onChange={setGatewayId} />
          </>
        )}
        <Field
          label="API key"
          hint={
            chosen?.apiKeyEnv
              ? `Write-only. Empty: read from ${chosen.apiKeyEnv} on the server.`
              : 'Write-only: never shown again.'
          }
        >
          <input type="password" autoComplete="new-password" value={f.apiKey} onInput={set('apiKey')} />
        </Field>
      </div>
      {chosen === undefined && (
        <fieldset>
          <legend>Models</legend>
          <Field
            label="Model names"
            hint="Comma-separated model names. Optional: models can also be added later from Discovered models."
          >
            <input value={f.models} onInput={set('models')} placeholder="gpt-4o-mini, gpt-4o" />
          </Field>
          <p class="muted small">
            The prices and context window below apply to every model listed; models that differ can be created one at a
            time, or changed later with a configuration import.
          </p>
          <div class="toolbar">
            <Field label="Prompt $/1k tokens">
              <input
                type="number"
                min={0}
                step="any"
                required={names.length > 0}
                disabled={names.length === 0}
                value={f.prompt}
                onInput={set('prompt')}
              />
            </Field>
            <Field label="Completion $/1k tokens">
              <input
                type="number"
                min={0}
                step="any"
                required={names.length > 0}
                disabled={names.length === 0}
                value={f.completion}
                onInput={set('completion')}
              />
            </Field>
            <Field label="Context window (tokens)">
              <input
                type="number"
                min={1}
                step={1}
                required={names.length > 0}
                disabled={names.length === 0}
                value={f.context}
                onInput={set('context')}
              />
            </Field>
          </div>
        </fieldset>
      )}
      {chosen && <p class="muted">{chosen.description}</p>}
      <button type="submit" disabled={action.busy}>
        Create provider
      </button>
      <ActionNote action={action} />
    </form>
  );
}

export function ProvidersScreen() {
  // Health, circuits, quotas and the last 24 h change on their own: fetched again while the screen is open.
  const load = useLoad(async () => listOf(await api<{ data: ProviderItem[] }>('/api/v1/ai/admin/providers')), [], {
    refreshMs: REFRESH_MS,
  });
  const gateways = useLoad(async () => listOf(await api<{ data: GatewayItem[] }>('/api/v1/ai/admin/gateways')), []);
  // A failed load knows no gateway (null); one still loading shows none yet.
  const knownGateways = gateways.state === 'error' && gateways.data === undefined ? null : (gateways.data ?? []);
  const [tests, setTests] = useState<Record<string, ConnectionTest>>({});
  const [bulk, runBulk] = useAction();
  const suggested = Object.values(tests).filter(suggestsGateway);
  // Once followed, a suggestion to route through the gateway goes (the routes it tested stay on show).
  const followed = (id: string) =>
    setTests((all) => (all[id] === undefined ? all : { ...all, [id]: { ...all[id], suggestion: undefined } }));
  return (
    <>
      <Section
        title="Providers"
        actions={
          suggested.length > 0 ? (
            <button
              type="button"
              disabled={bulk.busy}
              onClick={() =>
                void runBulk(async () => {
                  for (const t of suggested) {
                    if (t.providerId !== null) {
                      await api(path(t.providerId), { method: 'PATCH', body: gatewayPatch(t) });
                      followed(t.providerId);
                    }
                  }
                  load.reload();
                  return `${suggested.length} provider(s) now go through the gateway.`;
                })
              }
            >
              Route all {suggested.length} suggested through the gateway
            </button>
          ) : undefined
        }
      >
        <ActionNote action={bulk} />
        <Loaded load={load} what="providers">
          {(list) =>
            list.length === 0 ? (
              <Empty>No provider is configured yet: create one below.</Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Provider</th>
                      <th scope="col">Routing</th>
                      <th scope="col">Health</th>
                      <th scope="col">Circuit</th>
                      <th scope="col">Quota</th>
                      <th scope="col">Last 24 h</th>
                      <th scope="col">State</th>
                      <th scope="col">Actions</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((p) => (
                      <ProviderRow
                        key={p.id}
                        p={p}
                        gateways={knownGateways}
                        reload={load.reload}
                        test={tests[p.id]}
                        onTested={(t) => setTests((all) => ({ ...all, [p.id]: t }))}
                        onRouted={() => followed(p.id)}
                      />
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </Loaded>
      </Section>
      <Section title="Create provider">
        {gateways.state === 'error' && <ErrorBox message={`Gateways: ${gateways.error}`} onRetry={gateways.reload} />}
        <CreateForm gateways={knownGateways} onCreated={load.reload} />
      </Section>
    </>
  );
}
