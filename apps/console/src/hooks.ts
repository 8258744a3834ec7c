import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, messageOf } from './api';

export type Load<T> =
  /** `error`: the message of the load before, which failed; it stays while this one runs (it may fail alike). */
  | { state: 'loading'; data?: T; error?: string; reload: () => void }
  /** `refreshError`: the last periodic refresh failed with this message; `data` is the answer from before it. */
  | { state: 'ok'; data: T; refreshError?: string; reload: () => void }
  | { state: 'error'; error: string; data?: T; reload: () => void };

/** How often a screen's live figures (cache statistics, usage, provider health) are fetched again. */
export const REFRESH_MS = 15_000;

export interface LoadOptions {
  /**
   * Fetch again this long after the last fetch ended, in the background (no loading state), while the tab is
   * visible: a hidden tab fetches nothing, and one shown again fetches at once when its figures are that old. A
   * fetch still running is waited for, never doubled.
   */
  refreshMs?: number;
  /** Wait this long after `deps` change before fetching (a field typed into: one fetch per pause, not one per key). */
  debounceMs?: number;
  /**
   * False: nothing is fetched and nothing refreshed. The last answer or error stays, except that a fetch running when
   * it turns false is aborted and leaves the state `loading` (with the data before it): for a screen that hides its
   * results while disabled, as the user picker's closed list does.
   */
  enabled?: boolean;
}

/**
 * Runs `fetcher` when `deps` change (and on reload, and every `refreshMs` when given); the last call wins: the one
 * before it is aborted (`signal`, for a fetcher to pass on to `api`) and its answer or error ignored.
 */
export function useLoad<T>(
  fetcher: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  opts: LoadOptions = {},
): Load<T> {
  const [state, setState] = useState<Omit<Load<T>, 'reload'>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const current = useRef<AbortController | null>(null);
  // The refresh timer calls the fetcher of the latest render (its deps), not the one it was set up with.
  const latest = useRef(fetcher);
  latest.current = fetcher;
  const enabled = opts.enabled ?? true;
  const isEnabled = useRef(enabled);
  isEnabled.current = enabled;
  const running = useRef(0);
  const settledAt = useRef(0);
  const onSettled = useRef<() => void>(() => undefined);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const run = (background: boolean) => {
    if (background && !isEnabled.current) {
      return;
    }
    current.current?.abort();
    const abort = new AbortController();
    current.current = abort;
    running.current++;
    if (!background) {
      setState((s) => (s.state === 'ok' ? { state: 'loading', data: s.data } : { ...s, state: 'loading' }));
    }
    latest
      .current(abort.signal)
      .then(
        (data) => !abort.signal.aborted && setState({ state: 'ok', data }),
        (err: unknown) =>
          !abort.signal.aborted &&
          setState((s) =>
            // A failed refresh keeps the figures it was to replace on show, saying so; a failed load is an error.
            background && s.state === 'ok'
              ? { state: 'ok', data: s.data, refreshError: messageOf(err) }
              : { state: 'error', error: messageOf(err), data: s.data },
          ),
      )
      .finally(() => {
        running.current--;
        settledAt.current = Date.now();
        onSettled.current();
      });
  };
  const debounceMs = opts.debounceMs;
  useEffect(() => {
    if (!enabled) {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (debounceMs === undefined) {
      run(false);
    } else {
      timer = setTimeout(() => run(false), debounceMs);
    }
    return () => {
      clearTimeout(timer);
      current.current?.abort();
    };
  }, [...deps, tick, enabled]);

  const refreshMs = opts.refreshMs;
  useEffect(() => {
    if (refreshMs === undefined) {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = () => {
      clearTimeout(timer);
      timer = undefined;
      // Hidden: nothing until shown again. A fetch running: the next is scheduled when it ends.
      if (document.visibilityState === 'hidden' || running.current > 0) {
        return;
      }
      const due = settledAt.current + refreshMs - Date.now();
      if (due <= 0) {
        run(true);
      } else {
        // A load the page started meanwhile (new range, reload) reschedules this when it ends.
        timer = setTimeout(() => (running.current > 0 ? undefined : run(true)), due);
      }
    };
    onSettled.current = schedule;
    document.addEventListener('visibilitychange', schedule);
    schedule();
    return () => {
      clearTimeout(timer);
      onSettled.current = () => undefined;
      document.removeEventListener('visibilitychange', schedule);
    };
  }, [refreshMs]);
  return { ...state, reload } as Load<T>;
}

/** `param`: the request field the API named in its error (the envelope's `param`), for the form to mark it. */
export type Action = { busy: boolean; error: string | null; param: string | null; done: string | null };

const IDLE: Action = { busy: false, error: null, param: null, done: null };

/** A button's call: busy while it runs, then the API's message on failure or `done` on success. */
export function useAction(): [Action, (run: () => Promise<string | null | void>) => Promise<void>, () => void] {
  const [action, setAction] = useState<Action>(IDLE);
  const run = useCallback(async (fn: () => Promise<string | null | void>) => {
    setAction({ ...IDLE, busy: true });
    try {
      const done = await fn();
      setAction({ ...IDLE, done: done ?? null });
    } catch (err) {
      setAction({ ...IDLE, error: messageOf(err), param: err instanceof ApiError ? err.param : null });
    }
  }, []);
  const clear = useCallback(() => setAction(IDLE), []);
  return [action, run, clear];
}
