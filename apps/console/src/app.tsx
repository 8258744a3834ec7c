import { useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  keyRefusedBy,
  messageOf,
  normalizeKey,
  onSessionEnd,
  signIn,
  storedKey,
  storeKey,
  type Role,
} from './api';
import { ErrorBox, Field } from './ui';
import { ModelsScreen } from './screens/models';
import { SettingsScreen } from './screens/settings';
import { UsageScreen } from './screens/usage';
import { PlaygroundScreen } from './screens/playground';
import { ProvidersScreen } from './screens/providers';
import { GatewayScreen } from './screens/gateway';
import { KeysScreen } from './screens/keys';
import { CacheScreen } from './screens/cache';
import { ConfigScreen } from './screens/config';

export interface Session {
  role: Role;
  tier: string;
}

interface Route {
  path: string;
  label: string;
  admin: boolean;
  render: (s: Session) => preact.JSX.Element;
}

const ROUTES: Route[] = [
  { path: 'models', label: 'Models', admin: false, render: () => <ModelsScreen /> },
  { path: 'settings', label: 'Settings', admin: false, render: () => <SettingsScreen /> },
  { path: 'usage', label: 'Usage', admin: false, render: (s) => <UsageScreen admin={s.role === 'admin'} /> },
  { path: 'playground', label: 'Playground', admin: false, render: () => <PlaygroundScreen /> },
  { path: 'providers', label: 'Providers', admin: true, render: () => <ProvidersScreen /> },
  { path: 'gateway', label: 'Gateway', admin: true, render: () => <GatewayScreen /> },
  { path: 'keys', label: 'Keys and quotas', admin: true, render: () => <KeysScreen /> },
  { path: 'cache', label: 'Cache', admin: true, render: () => <CacheScreen /> },
  { path: 'config', label: 'Configuration', admin: true, render: () => <ConfigScreen /> },
];

/** The gateway refused the key itself (its 401), or it cannot be a key: only then is a stored key of no more use. */
function keyRefused(err: unknown): boolean {
  return keyRefusedBy(err) || (err instanceof ApiError && err.code === 'invalid_key_format');
}

function currentPath(): string {
  return window.location.hash.replace(/^#\/?/, '') || 'models';
}

function SignIn({ onSignedIn, initialError }: { onSignedIn: (s: Session) => void; initialError: string | null }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(initialError);
  const [busy, setBusy] = useState(false);
  // The only thing to do here: the keyboard starts in the field, also when a session just ended (whose screen, and
  // the focus in it, are gone: the focus would be left on the page's body).
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => field.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const k = normalizeKey(key);
      const s = await signIn(k);
      storeKey(k);
      onSignedIn(s);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>AI Gateway console</h1>
      <form onSubmit={(e) => void submit(e)} aria-label="Sign in">
        <Field label="API key" hint="Kept in this tab's session storage only and sent as a bearer token.">
          <input
            ref={field}
            type="password"
            name="apiKey"
            autoComplete="off"
            required
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            placeholder="sk-aigw-…"
          />
        </Field>
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error !== null && <ErrorBox message={error} />}
      </form>
    </main>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(storedKey() !== null);
  const [restoreError, setRestoreError] = useState<string | null>(null);
  const [path, setPath] = useState(currentPath());

  useEffect(() => {
    const onHash = () => setPath(currentPath());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    onSessionEnd((message) => {
      setSession(null);
      setRestoreError(message);
    });
    return () => onSessionEnd(null);
  }, []);

  // Why the stored key could not be checked when the gateway did not answer for it (unreachable, 5xx): the key is
  // kept for a retry, as only signing out or closing the tab forgets it.
  const [restoreFailed, setRestoreFailed] = useState<string | null>(null);
  const [restoreAttempt, setRestoreAttempt] = useState(0);

  useEffect(() => {
    const key = storedKey();
    if (key === null) {
      return;
    }
    signIn(key).then(
      (s) => {
        setRestoreFailed(null);
        setSession(s);
        setChecking(false);
      },
      (err: unknown) => {
        if (keyRefused(err)) {
          storeKey(null);
          setRestoreError(messageOf(err));
        } else {
          setRestoreFailed(messageOf(err));
        }
        setChecking(false);
      },
    );
  }, [restoreAttempt]);

  useEffect(() => {
    const route = ROUTES.find((r) => r.path === path);
    document.title = `${route?.label ?? 'Not found'} · AI Gateway console`;
    // Move focus to the new screen's heading, so keyboard and screen-reader users land on it.
    document.getElementById('screen-title')?.focus();
  }, [path, session]);

  if (checking) {
    return (
      <p class="state loading" role="status">
        Checking your key…
      </p>
    );
  }
  const signOut = () => {
    storeKey(null);
    setSession(null);
    setRestoreError(null);
    setRestoreFailed(null);
  };
  if (session === null && restoreFailed !== null && storedKey() !== null) {
    return (
      <main class="signin" aria-label="Session">
        <h1>AI Gateway console</h1>
        <ErrorBox
          message={`Your key could not be checked: ${restoreFailed}`}
          onRetry={() => {
            setChecking(true);
            setRestoreAttempt((n) => n + 1);
          }}
        />
        <p class="muted">The key is still kept in this tab: retry once the gateway answers again.</p>
        <button type="button" class="secondary" onClick={signOut}>
          Sign in with another key
        </button>
      </main>
    );
  }
  if (session === null) {
    return <SignIn onSignedIn={setSession} initialError={restoreError} />;
  }
  const visible = ROUTES.filter((r) => !r.admin || session.role === 'admin');
  const route = visible.find((r) => r.path === path);
  return (
    <div class="layout">
      <a
        class="skip"
        href={`#/${path}`}
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('screen')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">AI Gateway</span>
        <span class="who" data-role={session.role}>
          {session.role === 'admin' ? 'Administrator' : 'User'} · tier {session.tier}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Screens">
        <ul>
          {visible.map((r) => (
            <li key={r.path}>
              <a href={`#/${r.path}`} aria-current={r.path === route?.path ? 'page' : undefined}>
                {r.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="screen" tabIndex={-1}>
        <h1 id="screen-title" tabIndex={-1}>
          {route?.label ?? 'Not found'}
        </h1>
        {route ? route.render(session) : <ErrorBox message={`There is no screen '${path}' for your role.`} />}
      </main>
    </div>
  );
}
