/**
 * Sends items (a member's ephemeral events) in the order given, one send at a time, each send
 * carrying as many of the items queued by then as fit in `maxBytes`.
 *
 * Why one at a time: each `pg_notify` through the pool may run on a different connection, and
 * PostgreSQL delivers notifications in the order their transactions commit. Two sent at once could
 * commit, and reach the other members, in either order. Pulses are momentary values, so a member that
 * got batch k after batch k+1 showed its watchers the older value until the next pulse, and kept it
 * for good when none came (a fader that stopped). Found by the cluster test "a command for an
 * executor on another member", whose last of 20 pulses never became the value on the other member.
 *
 * Why packed: while one send is in flight, what arrives waits and goes in the next, so a burst costs
 * a round trip per `maxBytes` of items, not per batch the writer committed, and the queue cannot
 * outgrow what the connection carries. A failed send is reported and the next goes on: delivery stays
 * best effort, as NOTIFY's is.
 */
export class OrderedPublisher<T> {
  private queue: { item: T; bytes: number }[] = [];
  private sending = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly send: (items: T[]) => Promise<void>,
    /** Items whose size alone passes `maxBytes` are sent alone; the caller may refuse them before. */
    private readonly maxBytes: number,
    private readonly onError: (err: Error) => void,
  ) {}

  /** `bytes`: each item's size as sent (a separator included). */
  push(item: T, bytes: number): void {
    this.queue.push({ item, bytes });
    if (!this.sending) void this.drain();
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        let n = 0;
        let size = 0;
        while (n < this.queue.length && (n === 0 || size + this.queue[n]!.bytes <= this.maxBytes)) size += this.queue[n++]!.bytes;
        const items = this.queue.splice(0, n).map((q) => q.item);
        try {
          await this.send(items);
        } catch (err) {
          this.onError(err as Error);
        }
      }
    } finally {
      this.sending = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
