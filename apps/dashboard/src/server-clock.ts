/**
 * The server's clock, as seen from the browser. Ages on the page (how long
 * ago a pulse came) compare a time set on the server's side (a pulse's own
 * timestamp, or the time the server committed it) with "now"; taking "now"
 * from the browser would add the difference between the two machines'
 * clocks, which on a show network can be minutes. So "now" is the browser's
 * clock plus an offset learned from the server's own time: the `at` of each
 * /api/stats message (once a second).
 *
 * A sample `at − received` is the true offset minus the message's transit
 * time, so it can only be too low: the highest of the last few samples is
 * the best estimate, and dropping old samples follows a clock that is reset.
 * Until the first sample, the offset is 0 (the browser's own clock).
 */

const keep = 10;
const samples: number[] = [];
let offset = 0;

/** A server time (ISO string or epoch ms) received at `receivedAt` (browser epoch ms, default now). */
export function noteServerTime(at: string | number, receivedAt = Date.now()): void {
  const t = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(t)) return;
  samples.push(t - receivedAt);
  if (samples.length > keep) samples.shift();
  offset = Math.max(...samples);
}

/** Now, on the server's clock (epoch ms). */
export function serverNow(): number {
  return Date.now() + offset;
}

/** The offset in use (server − browser, ms), for display. */
export function serverClockOffset(): number {
  return offset;
}
