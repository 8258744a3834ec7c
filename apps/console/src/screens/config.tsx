import { useState } from 'preact/hooks';
import { api, apiFile, qs } from '../api';
import { useAction } from '../hooks';
import { ActionNote, Field, Section, download } from '../ui';

const CONFIG = '/api/v1/ai/admin/config';
type Format = 'yaml' | 'json';

const CONTENT_TYPE: Record<Format, string> = { yaml: 'application/yaml', json: 'application/json' };

function guessFormat(text: string): Format {
  return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
}

interface EntityChanges {
  added: string[];
  changed: { id: string; fields: Record<string, { from: unknown; to: unknown }> }[];
  removed: string[];
}

const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));

/** The dry run's changes, per kind of entity: added, changed field by field, removed. */
function Diff({ body }: { body: unknown }) {
  const changes = (body as { changes?: Record<string, EntityChanges> }).changes;
  if (changes === undefined) {
    return (
      <Field label="Changes the import would make">
        <textarea readOnly rows={12} class="code" value={JSON.stringify(body, null, 2)} />
      </Field>
    );
  }
  const kinds = Object.entries(changes);
  const none = kinds.every(([, c]) => c.added.length + c.changed.length + c.removed.length === 0);
  return (
    <div class="diff" role="region" aria-label="Changes the import would make" data-diff>
      {none && <p class="state empty">The import changes nothing.</p>}
      {kinds.map(([kind, c]) =>
        c.added.length + c.changed.length + c.removed.length === 0 ? null : (
          <div key={kind}>
            <h3>{kind}</h3>
            <ul>
              {c.added.map((id) => (
                <li key={`+${id}`} class="added">
                  + {id}
                </li>
              ))}
              {c.changed.map((ch) => (
                <li key={`~${ch.id}`} class="changed">
                  ~ {ch.id}:{' '}
                  {Object.entries(ch.fields)
                    .map(([f, v]) => `${f} ${show(v.from)} → ${show(v.to)}`)
                    .join(', ')}
                </li>
              ))}
              {c.removed.map((id) => (
                <li key={`-${id}`} class="removed">
                  − {id}
                </li>
              ))}
            </ul>
          </div>
        ),
      )}
    </div>
  );
}

export function ConfigScreen() {
  const [format, setFormat] = useState<Format>('yaml');
  // The text with the format it was exported in: the Format select may have changed since, the file must not.
  const [exported, setExported] = useState<{ text: string; format: Format } | null>(null);
  const [exp, runExport] = useAction();
  const [input, setInput] = useState('');
  const [diff, setDiff] = useState<{ for: string; body: unknown } | null>(null);
  const [imp, runImport] = useAction();

  const importRaw = (dryRun: boolean) =>
    api<unknown>(`${CONFIG}/import${qs({ dryRun: dryRun ? 'true' : undefined })}`, {
      method: 'POST',
      raw: { text: input, contentType: CONTENT_TYPE[guessFormat(input)] },
    });

  return (
    <>
      <Section title="Export">
        <div class="toolbar">
          <Field label="Format">
            <select value={format} onChange={(e) => setFormat(e.currentTarget.value as Format)}>
              <option value="yaml">YAML</option>
              <option value="json">JSON</option>
            </select>
          </Field>
          <button
            type="button"
            disabled={exp.busy}
            onClick={() =>
              void runExport(async () => {
                // A page a proxy answered in its place is refused, never kept as the configuration to download.
                const text = await apiFile(
                  `${CONFIG}/export${qs({ format })}`,
                  CONTENT_TYPE[format],
                  format.toUpperCase(),
                );
                setExported({ text, format });
                return null;
              })
            }
          >
            Export
          </button>
          <button
            type="button"
            class="secondary"
            disabled={exported === null}
            onClick={() =>
              exported !== null &&
              download(`aigw-config.${exported.format}`, exported.text, CONTENT_TYPE[exported.format])
            }
          >
            Download
          </button>
        </div>
        <ActionNote action={exp} />
        {exported !== null && (
          <Field label="Exported configuration (secrets left out)">
            <textarea readOnly rows={14} class="code" value={exported.text} data-export />
          </Field>
        )}
      </Section>
      <Section title="Import">
        <Field label="Configuration to import (YAML or JSON)">
          <textarea
            rows={10}
            class="code"
            value={input}
            onInput={(e) => {
              setInput(e.currentTarget.value);
              setDiff(null);
            }}
          />
        </Field>
        <div class="buttons">
          <button
            type="button"
            disabled={imp.busy || input.trim() === ''}
            onClick={() =>
              void runImport(async () => {
                setDiff({ for: input, body: await importRaw(true) });
                return 'Dry run: nothing changed yet. Review the changes, then apply.';
              })
            }
          >
            Preview changes (dry run)
          </button>
          <button
            type="button"
            class="danger"
            disabled={imp.busy || diff === null || diff.for !== input}
            onClick={() =>
              void runImport(async () => {
                await importRaw(false);
                setDiff(null);
                return 'Configuration imported.';
              })
            }
          >
            Apply
          </button>
        </div>
        <ActionNote action={imp} />
        {diff !== null && <Diff body={diff.body} />}
      </Section>
    </>
  );
}
