import { useState } from 'preact/hooks';
import { api } from '../api';
import { formatMs } from '../format';
import { useAction, useLoad } from '../hooks';
import { listOf, type ConnectionTest, type GatewayItem } from '../types';
import { ActionNote, Empty, Field, Loaded, Section } from '../ui';

const GATEWAYS = '/api/v1/ai/admin/gateways';

function GatewayForm({ existing, onSaved }: { existing: GatewayItem | null; onSaved: () => void }) {
  const [id, setId] = useState(existing?.id ?? 'litellm');
  const [baseUrl, setBaseUrl] = useState(existing?.baseUrl ?? '');
  const [apiKey, setApiKey] = useState('');
  const [tested, setTested] = useState<{ for: string; result: ConnectionTest } | null>(null);
  const [test, runTest] = useAction();
  const [save, runSave, clearSave] = useAction();
  const fingerprint = `${id}\n${baseUrl}\n${apiKey}`;
  const passed = tested !== null && tested.for === fingerprint && tested.result.routes.some((r) => r.ok);

  return (
    <form
      aria-label="Gateway settings"
      onInvalidCapture={clearSave}
      onSubmit={(e) => {
        e.preventDefault();
        void runSave(async () => {
          const body: Record<string, unknown> = { baseUrl };
          if (apiKey !== '') {
            body.apiKey = apiKey;
          }
          if (existing === null) {
            await api(GATEWAYS, { method: 'POST', body: { id, ...body } });
          } else {
            await api(`${GATEWAYS}/${encodeURIComponent(existing.id)}`, { method: 'PATCH', body });
          }
          setApiKey('');
          onSaved();
          return 'Gateway saved.';
        });
      }}
    >
      <div class="toolbar">
        <Field label="Gateway id">
          <input value={id} disabled={existing !== null} required onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
        <Field label="LiteLLM endpoint (base URL)">
          <input
            type="url"
            required
            value={baseUrl}
            onInput={(e) => setBaseUrl(e.currentTarget.value)}
            placeholder="http://litellm:4000"
          />
        </Field>
        <Field
          label="Gateway API key"
          hint={existing?.hasApiKey ? 'A key is stored; leave empty to keep it.' : 'Write-only.'}
        >
          <input
            type="password"
            autoComplete="new-password"
            value={apiKey}
            onInput={(e) => setApiKey(e.currentTarget.value)}
          />
        </Field>
      </div>
      <div class="buttons">
        <button
          type="button"
          disabled={test.busy || baseUrl === ''}
          onClick={() =>
            void runTest(async () => {
              // The monitor's connection test of settings not saved yet: the proxy speaks OpenAI's API. An empty
              // key field keeps the stored key, so the test uses it too (the monitor reads it; the page never does).
              const key = apiKey !== '' ? { apiKey } : existing?.hasApiKey ? { apiKeyFromGateway: existing.id } : {};
              // A saved gateway's settings are tested as a change of it, read as its PATCH reads them: a `${VAR}` key
              // equal to its stored reference (a gateway seeded from PROVIDERS_FILE with `${LITELLM_TOKEN}`) is taken
              // outside ADMIN_KEY_VARIABLES, as the save is. Without it the test was a 400 naming apiKey, and Save,
              // which waits for a passing test, stayed disabled for settings the API would save.
              const of = existing === null ? {} : { settingsOfGateway: existing.id };
              const result = await api<ConnectionTest>('/api/v1/ai/admin/providers/test', {
                method: 'POST',
                body: { kind: 'openai', baseUrl, routing: 'direct', ...key, ...of },
              });
              setTested({ for: fingerprint, result });
              return null;
            })
          }
        >
          Test
        </button>
        <button type="submit" disabled={save.busy || !passed} title={passed ? undefined : 'Test these settings first'}>
          Save
        </button>
      </div>
      <ActionNote action={test} />
      {tested !== null && (
        <ul class="test-result" aria-label="Gateway test">
          {tested.result.routes.map((r) => (
            <li key={r.route} class={r.ok ? 'ok' : 'fail'}>
              {r.route}: {r.ok ? 'works' : 'fails'} in {formatMs(r.latencyMs)}
              {r.models && r.models.length > 0 && <div class="muted small">models: {r.models.join(', ')}</div>}
              {r.diagnosis && (
                <div class="diagnosis" data-code={r.diagnosis.code}>
                  {r.diagnosis.message} <div class="suggestion">Suggestion: {r.diagnosis.suggestion}</div>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      <ActionNote action={save} />
    </form>
  );
}

export function GatewayScreen() {
  const load = useLoad(async () => listOf(await api<{ data: GatewayItem[] }>(GATEWAYS)), []);
  return (
    <Loaded load={load} what="gateways">
      {(list) => (
        <>
          {list.length === 0 && (
            <Empty>No gateway is configured: providers on the gateway route have nowhere to go.</Empty>
          )}
          {list.map((g) => (
            <Section key={g.id} title={`Gateway ${g.name ?? g.id}`}>
              <GatewayForm existing={g} onSaved={load.reload} />
            </Section>
          ))}
          {list.length === 0 && (
            <Section title="Add the LiteLLM gateway">
              <GatewayForm existing={null} onSaved={load.reload} />
            </Section>
          )}
        </>
      )}
    </Loaded>
  );
}
