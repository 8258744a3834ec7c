import { cloneElement, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Action, Load } from './hooks';
import { healthColour } from './format';

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <span>{message}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="state empty">{children}</p>;
}

/** Loading, error (with the API's message) or the content of a load. */
export function Loaded<T>({
  load,
  what,
  children,
}: {
  load: Load<T>;
  what: string;
  children: (data: T) => ComponentChildren;
}) {
  if (load.state === 'error') {
    return <ErrorBox message={load.error} onRetry={load.reload} />;
  }
  if (load.state === 'loading' && load.data === undefined) {
    return <Loading what={what} />;
  }
  // While new inputs load, the previous answer stays visible, marked as being updated; after a failed periodic
  // refresh too, marked as not current.
  return (
    <>
      {load.state === 'loading' && <Loading what={what} />}
      {load.state === 'ok' && load.refreshError !== undefined && (
        <p class="state warn" role="status" data-refresh-failed>
          Could not refresh the {what}: {load.refreshError} What is shown is from the last successful fetch.
        </p>
      )}
      {children(load.data as T)}
    </>
  );
}

/** What a button's call said: its error (the API's message) or its success note. */
export function ActionNote({ action }: { action: Action }) {
  if (action.error !== null) {
    return <ErrorBox message={action.error} />;
  }
  if (action.done !== null) {
    return (
      <p class="state ok" role="status">
        {action.done}
      </p>
    );
  }
  return null;
}

export function HealthBadge({ status }: { status: string | null | undefined }) {
  const colour = healthColour(status);
  return (
    <span class={`badge health ${colour}`} title={`health: ${status ?? 'unknown'}`}>
      <span class="dot" aria-hidden="true" />
      {status ?? 'unknown'}
    </span>
  );
}

export function Badge({ children, kind = 'neutral' }: { children: ComponentChildren; kind?: string }) {
  return <span class={`badge ${kind}`}>{children}</span>;
}

export function Section({
  title,
  children,
  actions,
}: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <section class="card" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value" data-stat={label}>
        {value}
      </div>
      {hint && <div class="stat-hint">{hint}</div>}
    </div>
  );
}

/**
 * A labelled control: every control on every screen carries a visible label, tied by `for`/`id` (a wrapping
 * label would make a select's options part of its accessible name). `error`: what the API said of this field
 * (its envelope's `param`), shown under it and tied to the control, which is marked invalid.
 */
export function Field({
  label,
  children,
  hint,
  error,
  name,
}: {
  label: string;
  children: VNode<{ id?: string }>;
  hint?: string;
  error?: string | null;
  /** The request field, for `data-field-error`. */
  name?: string;
}) {
  const id = useId();
  const invalid = error !== undefined && error !== null;
  const describedBy = [hint ? `${id}-hint` : null, invalid ? `${id}-error` : null].filter((d) => d !== null);
  const control = cloneElement(children, {
    id,
    'aria-describedby': describedBy.length > 0 ? describedBy.join(' ') : undefined,
    'aria-invalid': invalid ? 'true' : undefined,
  });
  return (
    <div class="field">
      <label class="field-label" for={id}>
        {label}
      </label>
      {control}
      {hint && (
        <span class="field-hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
      {invalid && (
        <span class="field-error" id={`${id}-error`} role="alert" data-field-error={name}>
          {error}
        </span>
      )}
    </div>
  );
}

/**
 * A destructive button with a confirm step in place: the first press asks `question` and moves focus to the
 * confirm button; that one runs `onConfirm`; Cancel or Escape goes back to the button.
 */
export function ConfirmButton({
  label,
  ariaLabel,
  question,
  confirmLabel,
  disabled,
  onConfirm,
}: {
  label: string;
  ariaLabel?: string;
  question: ComponentChildren;
  confirmLabel: string;
  disabled?: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  const questionId = useId();
  useEffect(() => {
    if (asking) {
      confirm.current?.focus();
    } else if (returnFocus.current) {
      returnFocus.current = false;
      opener.current?.focus();
    }
  }, [asking]);
  if (!asking) {
    return (
      <button
        ref={opener}
        type="button"
        class="danger"
        disabled={disabled}
        aria-label={ariaLabel}
        onClick={() => setAsking(true)}
      >
        {label}
      </button>
    );
  }
  const cancel = () => {
    returnFocus.current = true;
    setAsking(false);
  };
  return (
    <span
      class="confirm"
      role="group"
      aria-labelledby={questionId}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          cancel();
        }
      }}
    >
      <span id={questionId}>{question}</span>
      <button
        ref={confirm}
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" class="secondary" onClick={cancel}>
        Cancel
      </button>
    </span>
  );
}

/** Offers a text as a file download (exports, CSV). */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
