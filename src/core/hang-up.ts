/**
 * What a held call needs of its caller's "gone" signal (src/policy/approvals-queue.ts): an
 * `AbortSignal` is one, and so is a `HangUp`.
 */
export interface GoneSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * A `GoneSignal` for one HTTP exchange on the proxy's hot path: an `AbortController` costs
 * about 3 µs to make in Node 20 (an EventTarget with WebIDL checks), and all but the few calls
 * held for approval never look at it.
 */
export class HangUp implements GoneSignal {
  aborted = false;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at !== -1) this.listeners!.splice(at, 1);
  }

  /** The caller went away: tells every listener, once. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners ?? [];
    this.listeners = undefined;
    for (const listener of listeners) listener();
  }
}

/** An `AbortSignal` that follows `gone`, for APIs that take only that (http.request). */
export function toAbortSignal(gone: GoneSignal | undefined): AbortSignal | undefined {
  if (gone === undefined || gone instanceof AbortSignal) return gone;
  const controller = new AbortController();
  if (gone.aborted) controller.abort();
  else gone.addEventListener('abort', () => controller.abort(), { once: true });
  return controller.signal;
}
