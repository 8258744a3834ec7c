import { ErrorClass } from '@aigw/core';
import { abortSignalOf, CancelSignal } from './caller-signal';
import { CallDeadline } from './deadline';

describe('CancelSignal', () => {
  it('calls its listeners once, in order, with the reason set; the first reason stays', () => {
    const s = new CancelSignal();
    const seen: string[] = [];
    const a = (): void => void seen.push(`a:${String(s.reason)}`);
    s.addEventListener('abort', a);
    s.addEventListener('abort', a); // the same listener twice is one, as on an EventTarget
    s.addEventListener('abort', () => seen.push('b'), { once: true });
    expect(s.aborted).toBe(false);
    s.abort('first');
    s.abort('second');
    expect(s.aborted).toBe(true);
    expect(s.reason).toBe('first');
    expect(seen).toEqual(['a:first', 'b']);
    s.addEventListener('abort', () => seen.push('late')); // not called after the abort, as an AbortSignal's
    expect(seen).toEqual(['a:first', 'b']);
  });

  it('does not call a listener removed before the abort, or removed by an earlier listener during it', () => {
    const s = new CancelSignal();
    const seen: string[] = [];
    const gone = (): void => void seen.push('gone');
    const later = (): void => void seen.push('later');
    s.addEventListener('abort', gone);
    s.removeEventListener('abort', gone);
    s.addEventListener('abort', () => s.removeEventListener('abort', later));
    s.addEventListener('abort', later);
    s.addEventListener('abort', () => seen.push('last'));
    s.abort(1);
    expect(seen).toEqual(['last']);
  });

  it('a throwing listener does not stop the others; its error is thrown on the next tick', () => {
    const s = new CancelSignal();
    const seen: string[] = [];
    const boom = new Error('listener failed');
    s.addEventListener('abort', () => {
      throw boom;
    });
    s.addEventListener('abort', () => seen.push('after'));
    let deferred: (() => void) | undefined;
    const capture = (fn: () => void): void => {
      deferred = fn;
    };
    const nextTick = jest.spyOn(process, 'nextTick').mockImplementationOnce(capture as typeof process.nextTick);
    try {
      s.abort(1);
    } finally {
      nextTick.mockRestore();
    }
    expect(seen).toEqual(['after']);
    expect(deferred).toThrow(boom);
  });

  it('makes a real AbortSignal only on demand: one made before the abort follows it, one made after is aborted', () => {
    const before = new CancelSignal();
    const real = before.signal;
    expect(real).toBeInstanceOf(AbortSignal);
    expect(before.signal).toBe(real);
    expect(real.aborted).toBe(false);
    const reason = new Error('why');
    before.abort(reason);
    expect(real.aborted).toBe(true);
    expect(real.reason).toBe(reason);

    const after = new CancelSignal();
    after.abort(reason);
    expect(after.signal.aborted).toBe(true);
    expect(after.signal.reason).toBe(reason);
  });

  it('abortSignalOf: an AbortSignal as it is, a CancelSignal its own, another CallerSignal followed', () => {
    const real = new AbortController().signal;
    expect(abortSignalOf(real)).toBe(real);
    const c = new CancelSignal();
    expect(abortSignalOf(c)).toBe(c.signal);
    const other = new CancelSignal();
    const followed = abortSignalOf({
      get aborted() {
        return other.aborted;
      },
      get reason() {
        return other.reason;
      },
      addEventListener: (t, l) => other.addEventListener(t, l),
      removeEventListener: (t, l) => other.removeEventListener(t, l),
    });
    expect(followed.aborted).toBe(false);
    other.abort('x');
    expect(followed.reason).toBe('x');
  });

  it('cancels a provider call (CallDeadline) as an AbortSignal does, and lets go of it on dispose', () => {
    const s = new CancelSignal();
    const d = new CallDeadline(s, 10_000);
    let emitted = 0;
    d.on('abort', () => emitted++);
    s.abort(new Error('client went away'));
    expect(emitted).toBe(1);
    expect(d.classify(new Error('whatever')).errorClass).toBe(ErrorClass.Cancelled);
    d.dispose();

    const kept = new CancelSignal();
    const disposed = new CallDeadline(kept, 10_000);
    disposed.dispose();
    kept.abort(new Error('later'));
    expect(disposed.aborted).toBe(false);
  });
});
