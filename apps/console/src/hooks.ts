import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, messageOf } from './api';

export type Load<T> =
  | { state: 'loading'; data?: T; reload: () => void }
  | { state: 'ok'; data: T; reload: () => void }
  | { state: 'error'; error: string; data?: T; reload: () => void };

/** Runs `fetcher` when `deps` change (and on reload); the last call wins. */
export function useLoad<T>(fetcher: () => Promise<T>, deps: readonly unknown[]): Load<T> {
  const [state, setState] = useState<Omit<Load<T>, 'reload'>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ state: 'loading', data: s.data }));
    fetcher().then(
      (data) => mine === seq.current && setState({ state: 'ok', data }),
      (err: unknown) =>
        mine === seq.current && setState((s) => ({ state: 'error', error: messageOf(err), data: s.data })),
    );
  }, [...deps, tick]);
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
