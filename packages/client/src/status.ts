import { Channel } from './channel.js';

/**
 * Where the connection stands. One value at a time, in this cycle:
 *
 *   connecting ─open+clientId─▶ connected ─socket lost─▶ disconnected ─▶ reconnecting ─delay─▶ connecting ...
 *        └────────failed────────────────────────────────▶ disconnected
 *   close() from anywhere ─▶ closed (final)
 */
export type ConnectionStatus =
  | { type: 'connecting'; url: string; attempt: number }
  | { type: 'connected'; url: string; clientId: string }
  | { type: 'reconnecting'; attempt: number; delayMs: number; url: string }
  | { type: 'disconnected'; url: string; code: number; reason: string }
  | { type: 'closed' };

export type ConnectionStatusType = ConnectionStatus['type'];

/**
 * Holds the current status and hands every change to callbacks and async
 * iterators. Both start with the current value, so a late subscriber does not
 * wait for the next change to learn where things stand.
 */
export class StatusSignal {
  private value: ConnectionStatus;
  private readonly listeners = new Set<(s: ConnectionStatus) => void>();
  private readonly channels = new Set<Channel<ConnectionStatus>>();

  constructor(initial: ConnectionStatus) {
    this.value = initial;
  }

  get current(): ConnectionStatus {
    return this.value;
  }

  set(next: ConnectionStatus): void {
    if (this.value.type === 'closed') return; // final
    this.value = next;
    for (const cb of [...this.listeners]) {
      try {
        cb(next);
      } catch (err) {
        // A listener's bug must not stop the others or the connection logic.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    for (const ch of this.channels) {
      ch.push(next);
      if (next.type === 'closed') ch.end();
    }
    if (next.type === 'closed') this.channels.clear();
  }

  subscribe(cb: (s: ConnectionStatus) => void): () => void {
    this.listeners.add(cb);
    cb(this.value);
    return () => this.listeners.delete(cb);
  }

  /** Every status from now on, starting with the current one; ends after `closed`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<ConnectionStatus, undefined> {
    const ch: Channel<ConnectionStatus> = new Channel({ onReturn: () => this.channels.delete(ch) });
    ch.push(this.value);
    if (this.value.type === 'closed') ch.end();
    else this.channels.add(ch);
    return ch;
  }

  /** Resolves when a status matching `pred` is reached (at once if the current one does). */
  until(pred: (s: ConnectionStatus) => boolean): Promise<ConnectionStatus> {
    return new Promise((resolve) => {
      let unsub: (() => void) | undefined;
      let done = false;
      unsub = this.subscribe((s) => {
        if (done || !pred(s)) return;
        done = true;
        unsub?.();
        resolve(s);
      });
      if (done) unsub();
    });
  }
}
