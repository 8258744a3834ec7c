import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, messageOf } from './api';

export type Load<T> =
  | { state: 'loading'; data?: T; reload: () => void }
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
}

/** Runs `fetcher` when `deps` change (and on reload, and every `refreshMs` when given); the last call wins. */
export function useLoad<T>(fetcher: () => Promise<T>, deps: readonly unknown[], opts: LoadOptions = {}): Load<T> {
  const [state, setState] = useState<Omit<Load<T>, 'reload'>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  // The refresh timer calls the fetcher of the latest render (its deps), not the one it was set up with.
  const latest = useRef(fetcher);
  latest.current = fetcher;
  const running = useRef(0);
  const settledAt = useRef(0);
  const onSettled = useRef<() => void>(() => undefined);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const run = (background: boolean) => {
    const mine = ++seq.current;
    running.current++;
    if (!background) {
      setState((s) => ({ state: 'loading', data: s.data }));
    }
    latest
      .current()
      .then(
        (data) => mine === seq.current && setState({ state: 'ok', data }),
        (err: unknown) =>
          mine === seq.current &&
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
  useEffect(() => run(false), [...deps, tick]);

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
