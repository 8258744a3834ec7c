import { useEffect, useRef, useState } from 'preact/hooks';
import { costWithoutJob } from '../answer';
import { api, messageOf, send } from '../api';
import { formatCount, formatUsd } from '../format';
import { useLoad } from '../hooks';
import { foldChatChunk, sseEvents, type ChatChunkSummary } from '../sse';
import { ErrorBox, Field, Section, Stat } from '../ui';
import { loadModels } from './models';

const ALIASES = [
  { value: 'auto', label: 'auto (routing policy decides; your preferences apply)' },
  { value: 'cheapest', label: 'cheapest' },
  { value: 'fastest', label: 'fastest' },
  { value: 'best', label: 'best' },
];
const POLICIES = ['preference', 'cost', 'latency', 'quality', 'round-robin'];

interface Answer extends ChatChunkSummary {
  provider?: string;
  model?: string;
  route?: string;
  attempts?: string;
  cache?: string;
  /** `true`: the answer shared an identical request's provider call (ADR 0007) and has no job of its own. */
  coalesced?: boolean;
  requestId?: string;
  costUsd?: number | null;
}

const STREAM_LOST =
  'The connection to the gateway was lost before the answer was complete: what is shown is partial. Send again once it answers.';

/**
 * The cost of a streamed answer is not in the stream: the job the request ran as has it, once the worker has
 * marked it completed (a moment after the last chunk).
 */
async function costOf(requestId: string, signal: AbortSignal): Promise<number | null> {
  for (let i = 0; i < 20 && !signal.aborted; i++) {
    try {
      const job = await api<{ status: string; result?: { costUsd: number } }>(
        `/api/v1/ai/jobs/${encodeURIComponent(requestId)}`,
        { signal },
      );
      if (job.status === 'completed' || job.status === 'failed') {
        return job.result?.costUsd ?? null;
      }
    } catch {
      return null;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return null;
}

export function PlaygroundScreen() {
  const models = useLoad(loadModels, []);
  const [model, setModel] = useState('auto');
  // '' sends no policy: the key's, else the gateway's default decides, as for any other client.
  const [policy, setPolicy] = useState('');
  const [prompt, setPrompt] = useState('');
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);
  // Leaving the screen stops the answer: nobody would read the rest, and the provider would go on generating it.
  useEffect(() => () => abort.current?.abort(), []);

  const submit = async () => {
    setBusy(true);
    setError(null);
    setAnswer(null);
    const ctl = new AbortController();
    abort.current = ctl;
    try {
      const body: Record<string, unknown> = {
        model,
        messages: [{ role: 'user', content: prompt }],
        stream: true,
        stream_options: { include_usage: true },
      };
      if (policy !== '') {
        body.policy = policy;
      }
      const res = await send('/v1/chat/completions', { method: 'POST', body, signal: ctl.signal });
      const h = (n: string) => res.headers.get(n) ?? undefined;
      let acc: Answer = {
        text: '',
        done: false,
        provider: h('x-gateway-provider'),
        model: h('x-gateway-model'),
        route: h('x-gateway-route'),
        attempts: h('x-gateway-attempts'),
        cache: h('x-gateway-cache'),
        coalesced: h('x-gateway-coalesced') === 'true',
        requestId: h('x-request-id'),
      };
      setAnswer(acc);
      if (res.body === null) {
        throw new Error('The gateway sent no stream.');
      }
      try {
        for await (const data of sseEvents(res.body)) {
          acc = { ...acc, ...foldChatChunk(acc, data) };
          setAnswer(acc);
        }
      } catch (err) {
        // Reading the body fails with a bare TypeError ("network error") when the connection drops.
        throw err instanceof TypeError ? new Error(STREAM_LOST) : err;
      }
      if (acc.error !== undefined) {
        setError(acc.error);
      } else if (!acc.done) {
        // Ended without its [DONE] nor an error event: cut on the way (a proxy closed it), not finished.
        throw new Error(STREAM_LOST);
      }
      const cost =
        costWithoutJob(acc.cache, acc.coalesced) ??
        (acc.requestId === undefined ? null : await costOf(acc.requestId, ctl.signal));
      setAnswer({ ...acc, costUsd: cost });
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) {
        setError(messageOf(err));
      }
    } finally {
      setBusy(false);
      abort.current = null;
    }
  };

  return (
    <>
      <Section title="Send a prompt">
        <form
          aria-label="Playground"
          onInvalidCapture={() => setError(null)}
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <div class="toolbar">
            <Field label="Model">
              <select value={model} onChange={(e) => setModel(e.currentTarget.value)}>
                <optgroup label="Aliases">
                  {ALIASES.map((a) => (
                    <option key={a.value} value={a.value}>
                      {a.label}
                    </option>
                  ))}
                </optgroup>
                <optgroup label="Deployments">
                  {(models.data ?? []).map((m) => (
                    <option key={m.id} value={m.id}>
                      {m.id}
                    </option>
                  ))}
                </optgroup>
              </select>
            </Field>
            <Field label="Routing policy">
              <select value={policy} onChange={(e) => setPolicy(e.currentTarget.value)}>
                <option value="">default (the key's or the gateway's)</option>
                {POLICIES.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            </Field>
          </div>
          {models.state === 'error' && <ErrorBox message={`Models: ${models.error}`} onRetry={models.reload} />}
          <Field label="Prompt">
            <textarea rows={4} value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} required />
          </Field>
          <div class="buttons">
            <button type="submit" disabled={busy || prompt.trim() === ''}>
              {busy ? 'Streaming…' : 'Send'}
            </button>
            <button type="button" class="secondary" disabled={!busy} onClick={() => abort.current?.abort()}>
              Stop
            </button>
          </div>
        </form>
      </Section>
      {error !== null && <ErrorBox message={error} />}
      {answer !== null && (
        <Section title="Answer">
          <div class="answer" aria-live="polite" data-done={answer.done ? 'true' : 'false'}>
            {answer.text || (busy ? '…' : '')}
          </div>
          <div class="stats">
            <Stat label="Provider" value={answer.provider ?? '—'} />
            <Stat label="Model" value={answer.model ?? '—'} />
            <Stat label="Route" value={answer.route ?? '—'} />
            <Stat label="Attempts" value={answer.attempts ?? '—'} />
            <Stat
              label="Cache"
              value={answer.cache === undefined ? '—' : answer.coalesced ? `${answer.cache} (coalesced)` : answer.cache}
            />
            <Stat
              label="Tokens"
              value={answer.usage ? formatCount(answer.usage.totalTokens) : '—'}
              hint={
                answer.usage
                  ? `${formatCount(answer.usage.promptTokens)} prompt, ${formatCount(answer.usage.completionTokens)} completion`
                  : undefined
              }
            />
            <Stat label="Cost" value={answer.costUsd === undefined ? (busy ? '…' : '—') : formatUsd(answer.costUsd)} />
          </div>
        </Section>
      )}
    </>
  );
}
