import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from './api';

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

export type Action = { busy: boolean; error: string | null; done: string | null };

/** A button's call: busy while it runs, then the API's message on failure or `done` on success. */
export function useAction(): [Action, (run: () => Promise<string | null | void>) => Promise<void>, () => void] {
  const [action, setAction] = useState<Action>({ busy: false, error: null, done: null });
  const run = useCallback(async (fn: () => Promise<string | null | void>) => {
    setAction({ busy: true, error: null, done: null });
    try {
      const done = await fn();
      setAction({ busy: false, error: null, done: done ?? null });
    } catch (err) {
      setAction({ busy: false, error: messageOf(err), done: null });
    }
  }, []);
  const clear = useCallback(() => setAction({ busy: false, error: null, done: null }), []);
  return [action, run, clear];
}
