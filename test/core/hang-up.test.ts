import { describe, expect, it } from 'vitest';
import { HangUp, toAbortSignal } from '../../src/core/hang-up.js';

describe('HangUp', () => {
  it('tells each listener once, not a removed one, and stays aborted', () => {
    const gone = new HangUp();
    const heard: string[] = [];
    const a = () => heard.push('a');
    const b = () => heard.push('b');
    gone.addEventListener('abort', a);
    gone.addEventListener('abort', b);
    gone.removeEventListener('abort', b);
    expect(gone.aborted).toBe(false);
    gone.abort();
    gone.abort();
    expect(gone.aborted).toBe(true);
    expect(heard).toEqual(['a']);
  });

  it('gives APIs that want an AbortSignal one that follows it', () => {
    const gone = new HangUp();
    const signal = toAbortSignal(gone)!;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
    gone.abort();
    expect(signal.aborted).toBe(true);
    const early = new HangUp();
    early.abort();
    expect(toAbortSignal(early)!.aborted).toBe(true);
    const real = new AbortController().signal;
    expect(toAbortSignal(real)).toBe(real);
    expect(toAbortSignal(undefined)).toBeUndefined();
  });
});
