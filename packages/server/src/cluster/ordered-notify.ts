/**
 * Sends NOTIFY payloads one after another, in the order given.
 *
 * Why: each `pg_notify` through the pool may run on a different connection, and PostgreSQL delivers
 * notifications in the order their transactions commit. Two sent at once could commit, and reach
 * the other members, in either order. Pulses are momentary values, so a member that got batch k
 * after batch k+1 showed its watchers the older value until the next pulse, and kept it for good
 * when none came (a fader that stopped). Found by the cluster test "a command for an executor on
 * another member", whose last of 20 pulses never became the value on the other member.
 *
 * A payload waits for the one before it to be committed. What is queued meanwhile goes as soon as
 * that one is, so a burst costs one round trip per payload, not a wait per pulse. A failed send is
 * reported and the next one goes on: delivery stays best effort, as NOTIFY's is.
 */
export class OrderedNotify {
  private readonly queue: string[] = [];
  private sending = false;
  /** Resolves once nothing is queued or in flight (tests, and a clean stop). */
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly send: (payload: string) => Promise<void>,
    private readonly onError: (err: Error) => void,
  ) {}

  push(payload: string): void {
    this.queue.push(payload);
    if (!this.sending) void this.drain();
  }

  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      for (let payload = this.queue.shift(); payload !== undefined; payload = this.queue.shift()) {
        try {
          await this.send(payload);
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
