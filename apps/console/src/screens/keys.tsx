import { useEffect, useRef, useState } from 'preact/hooks';
import { api, endSession, listPages, sessionKeyPrefix } from '../api';
import { formatCount, formatDateTime, formatKeyState, formatUsd } from '../format';
import { useAction, useLoad } from '../hooks';
import type { KeyItem, QuotaItem, UserItem } from '../types';
import { ActionNote, Badge, ConfirmButton, Empty, Field, Loaded, Section } from '../ui';
import { UserPicker } from '../user-picker';

const ADMIN = '/api/v1/ai/admin';
/** Keys shown at first, and added by each "Show more keys". */
const KEYS_PAGE = 100;

/** A key just made and its secret: whose it is stays beside it, as the form moves on to the next key. */
type CreatedKey = Pick<KeyItem, 'prefix' | 'role' | 'userName'> & { key: string };

function NewKey({ created }: { created: CreatedKey }) {
  const [copied, setCopied] = useState<string | null>(null);
  const field = useRef<HTMLInputElement>(null);
  const secret = created.key;
  // Selected in its field for a copy by hand: where the page has no clipboard API (no secure context, as a console
  // opened over plain HTTP on another host than localhost) or the browser refuses the write.
  const byHand = (why: string) => {
    field.current?.focus();
    field.current?.select();
    setCopied(`${why}: the key is selected, press Ctrl+C (Cmd+C) to copy it.`);
  };
  const copy = () => {
    // Absent outside a secure context, whatever its type says.
    const clipboard = navigator.clipboard as Clipboard | undefined;
    if (clipboard === undefined) {
      byHand('This page cannot reach the clipboard (it is not served over HTTPS)');
      return;
    }
    void clipboard.writeText(secret).then(
      () => setCopied('Copied.'),
      () => byHand('Copy failed'),
    );
  };
  return (
    <div class="new-key" role="status">
      <p>
        The {created.role} key <code>{created.prefix}…</code> of <strong class="name">{created.userName}</strong> is
        shown once: copy it now.
      </p>
      <Field label="New API key">
        <input ref={field} readOnly value={secret} data-new-key onFocus={(e) => e.currentTarget.select()} />
      </Field>
      <button type="button" onClick={copy}>
        Copy
      </button>
      {copied && <span class="muted"> {copied}</span>}
    </div>
  );
}

function CreateUser({ onCreated }: { onCreated: (user: UserItem) => void }) {
  const [name, setName] = useState('');
  const [tier, setTier] = useState('');
  const [action, run, clear] = useAction();
  return (
    <form
      class="inline-form"
      aria-label="Create user"
      onInvalidCapture={clear}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          const created = await api<UserItem>(`${ADMIN}/users`, {
            method: 'POST',
            body: tier === '' ? { name } : { name, tier },
          });
          setName('');
          onCreated(created);
          return `User ${name} created.`;
        });
      }}
    >
      <Field label="User name">
        <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field label="Tier" hint="Empty: the default tier.">
        <input value={tier} onInput={(e) => setTier(e.currentTarget.value)} />
      </Field>
      <button type="submit" disabled={action.busy}>
        Create user
      </button>
      <ActionNote action={action} />
    </form>
  );
}

/** The fields of the create-key form the API checks one by one, as its error envelope's `param` names them. */
type KeyField = 'name' | 'expiresAt' | 'allowedModels' | 'rpm' | 'tpm';
const KEY_FIELDS: readonly KeyField[] = ['name', 'expiresAt', 'allowedModels', 'rpm', 'tpm'];

/** The form field an API error is about: `allowedModels[1]` is the allowed models' field; null for none of them. */
function keyFieldOf(param: string | null): KeyField | null {
  const top = param?.split(/[.[]/)[0];
  return KEY_FIELDS.find((f) => f === top) ?? null;
}

/** The allowed models as typed: one entry per comma or line, each trimmed (the API refuses surrounding spaces). */
function modelList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** A `datetime-local` value read as UTC (the console shows every time in UTC), as the API's ISO 8601 with its zone. */
function utcInstant(local: string): string {
  const d = new Date(`${local}Z`);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

function CreateKey({
  user,
  onUser,
  onCreated,
}: {
  user: UserItem | null;
  onUser: (user: UserItem | null) => void;
  onCreated: () => void;
}) {
  const [role, setRole] = useState<'user' | 'admin'>('user');
  const [name, setName] = useState('');
  const [expiresAt, setExpiresAt] = useState('');
  const [allowedModels, setAllowedModels] = useState('');
  const [rpm, setRpm] = useState('');
  const [tpm, setTpm] = useState('');
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [action, run, clear] = useAction();
  // The API's refusal goes under the field it names; one of no field here (the user) goes under the button.
  const field = keyFieldOf(action.param);
  const errorOf = (f: KeyField) => (field === f ? action.error : null);
  return (
    <form
      aria-label="Create key"
      onInvalidCapture={clear}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          if (user === null) {
            // Not while the button is disabled (no submit then); this narrows `user` for what follows.
            throw new Error('Choose a user first.');
          }
          const body: Record<string, unknown> = { userId: user.id, role };
          if (name !== '') {
            body.name = name;
          }
          if (expiresAt !== '') {
            body.expiresAt = utcInstant(expiresAt);
          }
          const models = modelList(allowedModels);
          if (models.length > 0) {
            body.allowedModels = models;
          }
          if (rpm !== '') {
            body.rpm = Number(rpm);
          }
          if (tpm !== '') {
            body.tpm = Number(tpm);
          }
          const made = await api<KeyItem & { key: string }>(`${ADMIN}/keys`, { method: 'POST', body });
          setCreated({ key: made.key, prefix: made.prefix, role: made.role, userName: made.userName });
          // The form starts over for the next key, the role too: an admin key made once is not the default after.
          setRole('user');
          setName('');
          setExpiresAt('');
          setAllowedModels('');
          setRpm('');
          setTpm('');
          onCreated();
          return null;
        });
      }}
    >
      <div class="toolbar">
        <Field label="User" hint="Type the start of a name.">
          <UserPicker value={user} onChange={onUser} />
        </Field>
        <Field label="Role">
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as 'user' | 'admin')}>
            <option value="user">user</option>
            <option value="admin">admin</option>
          </select>
        </Field>
        <Field label="Key name" name="name" error={errorOf('name')}>
          <input value={name} maxLength={200} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Expires (UTC)" name="expiresAt" error={errorOf('expiresAt')} hint="Empty: never expires.">
          <input type="datetime-local" value={expiresAt} onInput={(e) => setExpiresAt(e.currentTarget.value)} />
        </Field>
      </div>
      <div class="toolbar">
        <Field
          label="Allowed models"
          name="allowedModels"
          error={errorOf('allowedModels')}
          hint="Comma-separated: model, provider/model or provider/*. Empty: every model."
        >
          <input
            value={allowedModels}
            placeholder="sim-gpt, openai/*"
            onInput={(e) => setAllowedModels(e.currentTarget.value)}
          />
        </Field>
        <Field label="Requests per minute" name="rpm" error={errorOf('rpm')} hint="Empty: the tier's limit.">
          <input
            type="number"
            min={1}
            max={1_000_000_000}
            step={1}
            value={rpm}
            onInput={(e) => setRpm(e.currentTarget.value)}
          />
        </Field>
        <Field label="Tokens per minute" name="tpm" error={errorOf('tpm')} hint="Empty: the tier's limit.">
          <input
            type="number"
            min={1}
            max={1_000_000_000}
            step={1}
            value={tpm}
            onInput={(e) => setTpm(e.currentTarget.value)}
          />
        </Field>
      </div>
      <button type="submit" disabled={action.busy || user === null}>
        Create key
      </button>
      {field === null && <ActionNote action={action} />}
      {created !== null && <NewKey created={created} />}
    </form>
  );
}

/**
 * Where the keyboard focus goes once `k` is revoked (its Revoke and confirm buttons are gone with it): the Revoke of
 * the next key still active below it, else of the nearest one above; null when none is left (the table then).
 */
function focusAfterRevoke(keys: KeyItem[], k: KeyItem): string | null {
  const at = keys.indexOf(k);
  const active = (x: KeyItem) => x !== k && !x.revokedAt;
  return (keys.slice(at + 1).find(active) ?? keys.slice(0, at).reverse().find(active))?.prefix ?? null;
}

function KeyList({ keys, reload }: { keys: KeyItem[]; reload: () => void }) {
  const [action, run] = useAction();
  const table = useRef<HTMLTableElement>(null);
  // After a revoke, the key whose Revoke takes the focus once the call ended (null: the table); undefined: none to
  // move. Without it the focus, on the confirm button that went away, fell back to the top of the page.
  const focusTo = useRef<string | null | undefined>(undefined);
  useEffect(() => {
    const to = focusTo.current;
    if (action.busy || to === undefined) {
      return;
    }
    focusTo.current = undefined;
    const button =
      to === null
        ? null
        : table.current?.querySelector<HTMLButtonElement>(`tr[data-key-prefix="${CSS.escape(to)}"] button`);
    (button ?? table.current)?.focus();
  }, [action.busy, keys]);
  if (keys.length === 0) {
    return <Empty>No key yet.</Empty>;
  }
  const session = sessionKeyPrefix();
  const revoke = (k: KeyItem, own: boolean) =>
    run(async () => {
      // Refused: back to the key's own Revoke, there again.
      focusTo.current = k.prefix;
      await api(`${ADMIN}/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
      if (own) {
        focusTo.current = undefined;
        // The gateway may accept the key for a few more seconds (its lookup cache): sign out now, not then.
        endSession(`You revoked the key you were signed in with (${k.prefix}…): sign in with another key.`);
        return null;
      }
      focusTo.current = focusAfterRevoke(keys, k);
      reload();
      return `Key ${k.prefix}… revoked.`;
    });
  return (
    <>
      <ActionNote action={action} />
      <div class="table-wrap">
        <table ref={table} aria-label="Keys" tabIndex={-1}>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => {
              const own = k.prefix === session;
              return (
                <tr key={k.id} data-key-prefix={k.prefix} data-session={own ? 'true' : undefined}>
                  <th scope="row">
                    <code>{k.prefix}…</code> {k.name && <span class="muted">{k.name}</span>}
                    {own && <Badge kind="session">this session</Badge>}
                  </th>
                  <td class="name">{k.userName}</td>
                  <td>{k.role}</td>
                  <td>{formatDateTime(k.createdAt)}</td>
                  <td>{formatDateTime(k.lastUsedAt)}</td>
                  <td data-key-state>{formatKeyState(k)}</td>
                  <td>
                    {!k.revokedAt && (
                      <ConfirmButton
                        label="Revoke"
                        ariaLabel={`Revoke key ${k.prefix}`}
                        disabled={action.busy}
                        question={
                          own
                            ? `Revoke ${k.prefix}…? It is the key you are signed in with: you will be signed out.`
                            : `Revoke ${k.prefix}…? Whoever uses it loses access at once.`
                        }
                        confirmLabel="Yes, revoke"
                        onConfirm={() => void revoke(k, own)}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

type LimitField = 'dailyRequestLimit' | 'monthlyRequestLimit' | 'dailySpendLimitUsd' | 'monthlySpendLimitUsd';
/** `step`: request limits are whole numbers (the API refuses 1.5); spend limits take any amount. */
const LIMITS: { field: LimitField; label: string; step: number | 'any' }[] = [
  { field: 'dailyRequestLimit', label: 'Daily request limit', step: 1 },
  { field: 'monthlyRequestLimit', label: 'Monthly request limit', step: 1 },
  { field: 'dailySpendLimitUsd', label: 'Daily spend limit (USD)', step: 'any' },
  { field: 'monthlySpendLimitUsd', label: 'Monthly spend limit (USD)', step: 'any' },
];

/** The quota form's fields, as the API's error envelope names them in `param`. */
type QuotaField = 'tier' | LimitField;
const QUOTA_FIELDS: readonly QuotaField[] = ['tier', ...LIMITS.map((l) => l.field)];

function QuotaEditor({ userId }: { userId: string }) {
  const load = useLoad(() => api<QuotaItem>(`${ADMIN}/quotas/${encodeURIComponent(userId)}`), [userId]);
  // Only what was edited since the quota loaded: the fields show the loaded quota until then, from the first render
  // on (a copy made in an effect came a render late and could overwrite what was typed meanwhile).
  const [edits, setForm] = useState<Record<string, string>>({});
  const [action, run, clear] = useAction();
  // The API's refusal of one field goes under that field; any other (the user unknown, the gateway down) under the
  // buttons.
  const field = QUOTA_FIELDS.find((f) => f === action.param) ?? null;
  const errorOf = (f: QuotaField) => (field === f ? action.error : null);
  // The quota a save was made over: its edits stay on show until the quota read after the save replaces it (cleared
  // at once, the fields showed the values from before the save while it was read again).
  const savedOver = useRef<QuotaItem | null>(null);
  useEffect(() => {
    if (savedOver.current !== null && load.data !== undefined && load.data !== savedOver.current) {
      savedOver.current = null;
      setForm({});
    }
  }, [load.data]);
  return (
    <Loaded load={load} what="quota">
      {(q) => {
        const form: Record<string, string> = {
          tier: q.tier,
          ...Object.fromEntries(LIMITS.map((l) => [l.field, q[l.field] === null ? '' : String(q[l.field])])),
          ...edits,
        };
        return (
          <form
            aria-label="Quota"
            onInvalidCapture={clear}
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                const body: Record<string, unknown> = { tier: form.tier };
                for (const l of LIMITS) {
                  body[l.field] = (form[l.field] ?? '') === '' ? null : Number(form[l.field]);
                }
                await api(`${ADMIN}/quotas/${encodeURIComponent(userId)}`, { method: 'PUT', body });
                savedOver.current = q;
                load.reload();
                return 'Quota saved.';
              });
            }}
          >
            <p class="muted">
              Used: {formatCount(q.dailyRequests)} requests and {formatUsd(q.dailySpendUsd)} today;{' '}
              {formatCount(q.monthlyRequests)} requests and {formatUsd(q.monthlySpendUsd)} this month.
            </p>
            <div class="toolbar">
              <Field label="Tier" name="tier" error={errorOf('tier')}>
                <input
                  value={form.tier ?? ''}
                  onInput={(e) => {
                    const v = e.currentTarget.value;
                    setForm((f) => ({ ...f, tier: v }));
                  }}
                />
              </Field>
              {LIMITS.map((l) => (
                <Field
                  key={l.field}
                  label={l.label}
                  name={l.field}
                  error={errorOf(l.field)}
                  hint="Empty: the tier's limit."
                >
                  <input
                    type="number"
                    min={0}
                    step={l.step}
                    value={form[l.field] ?? ''}
                    onInput={(e) => {
                      const v = e.currentTarget.value;
                      setForm((f) => ({ ...f, [l.field]: v }));
                    }}
                  />
                </Field>
              ))}
            </div>
            <div class="buttons">
              <button type="submit" disabled={action.busy}>
                Save quota
              </button>
              <button
                type="button"
                class="secondary"
                disabled={action.busy}
                onClick={() =>
                  void run(async () => {
                    await api(`${ADMIN}/quotas/${encodeURIComponent(userId)}/reset`, { method: 'POST' });
                    load.reload();
                    return 'Counters reset.';
                  })
                }
              >
                Reset counters
              </button>
            </div>
            {field === null && <ActionNote action={action} />}
          </form>
        );
      }}
    </Loaded>
  );
}

export function KeysScreen() {
  // No list of every user: the pickers ask the gateway for the users whose name starts with what is typed.
  const [keyUser, setKeyUser] = useState<UserItem | null>(null);
  const [quotaUser, setQuotaUser] = useState<UserItem | null>(null);
  // The newest keys first (a key just created is on top, not pages away), a page more on each "Show more keys",
  // fetched from where the last page ended; a reload (after a create or revoke) fetches as many as shown again.
  const shown = useRef<Awaited<ReturnType<typeof listPages<KeyItem>>> | null>(null);
  const wantMore = useRef(false);
  const [moreAsked, setMoreAsked] = useState(0);
  const keys = useLoad(async () => {
    const have = shown.current;
    const more = wantMore.current && have !== null && have.cursor !== null;
    wantMore.current = false;
    const got = more
      ? await listPages<KeyItem>(`${ADMIN}/keys`, { order: 'desc' }, KEYS_PAGE, have.cursor)
      : await listPages<KeyItem>(`${ADMIN}/keys`, { order: 'desc' }, Math.max(KEYS_PAGE, have?.items.length ?? 0));
    shown.current = more ? { ...got, items: [...have.items, ...got.items] } : got;
    return shown.current;
  }, [moreAsked]);
  return (
    <>
      <Section title="Users">
        {/* A user just created is the one the next key is for. */}
        <CreateUser onCreated={setKeyUser} />
      </Section>
      <Section title="Create a key">
        <CreateKey user={keyUser} onUser={setKeyUser} onCreated={keys.reload} />
      </Section>
      <Section title="Keys">
        <Loaded load={keys} what="keys">
          {(list) => (
            <>
              <KeyList keys={list.items} reload={keys.reload} />
              {list.more && (
                <button
                  type="button"
                  class="secondary"
                  disabled={keys.state === 'loading'}
                  onClick={() => {
                    wantMore.current = true;
                    setMoreAsked((n) => n + 1);
                  }}
                >
                  Show more keys
                </button>
              )}
            </>
          )}
        </Loaded>
      </Section>
      <Section title="Quotas">
        <Field label="User" hint="Type the start of a name.">
          <UserPicker value={quotaUser} onChange={setQuotaUser} />
        </Field>
        {quotaUser !== null && <QuotaEditor key={quotaUser.id} userId={quotaUser.id} />}
      </Section>
    </>
  );
}
