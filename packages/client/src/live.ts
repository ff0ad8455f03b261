import { Channel } from './channel.js';
import { ClientClosedError } from './errors.js';

/** What a shared subscription calls on each of its watchers. */
export interface Listener<V> {
  next(value: V): void;
  /** The subscription failed; no more values follow. */
  error(error: Error): void;
  /** The client closed; no more values follow. */
  end(): void;
}

/**
 * Call app code without letting its exceptions break the caller's loop (a
 * diff must reach every watcher); the error still surfaces as uncaught.
 */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/**
 * The app-facing side of a live value (query result, diffs, report): any
 * number of callbacks and async iterators. Each one holds a reference on the
 * shared server subscription while it listens; when the last one anywhere
 * lets go, the subscription is cancelled on the server.
 */
export abstract class LiveHandle<V> implements AsyncIterable<V> {
  private latest: V | undefined;
  private readonly detachers = new Set<() => void>();
  private readonly channels = new Set<Channel<V>>();

  /** Snapshots conflate (a slow reader gets the newest); diffs must not. */
  protected abstract readonly conflate: boolean;

  /**
   * Attach a listener to the shared subscription (creating it if needed) and
   * return the detach, which must be idempotent. The listener may be called
   * at once with the current value.
   */
  protected abstract attach(listener: Listener<V>): () => void;

  /** The last value any watcher of this handle received. */
  get current(): V | undefined {
    return this.latest;
  }

  /**
   * Call `next` with the current value (at once, when one is known) and each
   * later one. Returns the unsubscribe; the last unsubscribe cancels on the
   * server.
   */
  subscribe(next: (value: V) => void, error?: (error: Error) => void, end?: () => void): () => void {
    let detach: (() => void) | undefined;
    let done = false;
    const stop = () => {
      if (done) return;
      done = true;
      this.detachers.delete(stop);
      detach?.();
    };
    this.detachers.add(stop);
    detach = this.attach({
      next: (v) => {
        this.latest = v;
        if (!done) safely(() => next(v));
      },
      error: (e) => {
        if (done) return;
        done = true;
        this.detachers.delete(stop);
        if (error) safely(() => error(e));
      },
      end: () => {
        if (done) return;
        done = true;
        this.detachers.delete(stop);
        if (end) safely(end);
      },
    });
    if (done) detach();
    return stop;
  }

  /** `for await (const v of handle)`: ends on `break`, on `close()`, or throws the subscription's error. */
  [Symbol.asyncIterator](): AsyncIterableIterator<V, undefined> {
    let detach: (() => void) | undefined;
    const ch: Channel<V> = new Channel({
      conflate: this.conflate,
      onReturn: () => {
        this.channels.delete(ch);
        detach?.();
      },
    });
    this.channels.add(ch);
    detach = this.attach({
      next: (v) => {
        this.latest = v;
        ch.push(v);
      },
      error: (e) => {
        this.channels.delete(ch);
        ch.fail(e);
      },
      end: () => {
        this.channels.delete(ch);
        ch.end();
      },
    });
    return ch;
  }

  /** The first value (the current one when known); rejects with the subscription's error. */
  first(): Promise<V> {
    return new Promise((resolve, reject) => {
      let unsub: (() => void) | undefined;
      let settled = false;
      unsub = this.subscribe(
        (v) => {
          if (settled) return;
          settled = true;
          unsub?.();
          resolve(v);
        },
        (e) => {
          settled = true;
          reject(e);
        },
        () => {
          // The client closed before any value: say so rather than leave the promise pending.
          if (settled) return;
          settled = true;
          reject(new ClientClosedError('closed before the first value arrived'));
        },
      );
      if (settled) unsub();
    });
  }

  /** Stop every callback and iterator of this handle (iterators end normally). */
  close(): void {
    for (const stop of [...this.detachers]) stop();
    for (const ch of [...this.channels]) void ch.return();
  }
}
