/**
 * A push-to-pull bridge: producers `push`, one consumer `for await`s. Every
 * async iterable of the client (status, live results, diffs, reports) is one
 * of these.
 *
 * `conflate: true` keeps only the newest unread value: right for snapshots
 * (a slow reader wants the latest result, not a backlog of stale ones), wrong
 * for diffs and status transitions, which keep every value.
 */
export class Channel<T> implements AsyncIterableIterator<T, undefined> {
  private readonly buffer: T[] = [];
  private readonly waiters: { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void }[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;

  constructor(private readonly opts: { conflate?: boolean; onReturn?: (() => void) | undefined } = {}) {}

  push(value: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) return w.resolve({ value, done: false });
    if (this.opts.conflate) this.buffer.length = 0;
    this.buffer.push(value);
  }

  /** Values already pushed are still read; then `next()` rejects once with `error`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const waiting = this.waiters.splice(0);
    if (waiting.length === 0) this.failure = { error };
    for (const w of waiting) w.reject(error);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** `break` out of `for await` lands here: stop listening upstream. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.buffer.length = 0;
    this.failure = undefined;
    this.end();
    const onReturn = this.opts.onReturn;
    this.opts.onReturn = undefined;
    onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
