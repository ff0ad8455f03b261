/**
 * How the dashboard writes times, ages and numbers: one module, used by every
 * page, so a time reads the same on the overview, the data browser and the
 * event stream, and no number ever shows in exponent form (`1.80e+12`).
 *
 * Times: 24-hour local time, `HH:MM:SS` for today and `YYYY-MM-DD HH:MM:SS`
 * otherwise (no month/day order to guess, no AM/PM); the exact ISO time (UTC)
 * goes in a tooltip (`timeTitle`).
 *
 * Epoch milliseconds: a number is shown as a time only when both its field
 * name says it is one (`createdAt`, `lastUpdated`, `startTime`, `timestamp`,
 * `ts`, …: see `isTimeName`) and its value is a plausible epoch-millisecond
 * time (years 2000 to 2100); an ordinary count or id is never turned into a
 * date. An ISO date-time string under such a name is shown the same way.
 */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Epoch ms of 2000-01-01 and 2100-01-01 (UTC): outside, a number is not taken for a time. */
export const minEpochMs = 946_684_800_000;
export const maxEpochMs = 4_102_444_800_000;

const timeWords = new Set(['at', 'time', 'timestamp', 'ts', 'date', 'datetime', 'updated', 'created', 'modified', 'seen', 'started', 'stopped', 'expires', 'since', 'when']);
const unitWords = new Set(['ms', 'millis', 'epoch']);

/** Words of a field name: camelCase, snake_case, kebab-case, dotted. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_.-]+/)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
}

/** A field name that holds a time: its last word (before a unit such as `Ms`) is at/time/timestamp/ts/date/updated/… */
export function isTimeName(name: string): boolean {
  const w = words(name);
  let last = w.at(-1);
  if (last !== undefined && unitWords.has(last) && w.length > 1) last = w.at(-2);
  return last !== undefined && timeWords.has(last);
}

export const isEpochMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= minEpochMs && v <= maxEpochMs;

const isoDateTime = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/**
 * Epoch ms of a time field's value: epoch ms (number or numeric string),
 * epoch seconds (a number in the seconds range, as Python's `time.time()`
 * gives), or an ISO date-time string; undefined when it is none of these.
 */
export function toEpochMs(v: unknown): number | undefined {
  if (typeof v === 'string') {
    if (/^\d+(\.\d+)?$/.test(v)) return toEpochMs(Number(v));
    if (!isoDateTime.test(v)) return undefined;
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  if (isEpochMs(v)) return v;
  if (isEpochMs(v * 1000)) return v * 1000;
  return undefined;
}

/** The time of field `name` with value `v`, when the name and the value both say it is one. */
export function fieldTime(name: string, v: unknown): number | undefined {
  if (!isTimeName(name)) return undefined;
  if (typeof v === 'number') return isEpochMs(v) ? v : undefined;
  return typeof v === 'string' ? toEpochMs(v) : undefined;
}

/** `HH:MM:SS` today, else `YYYY-MM-DD HH:MM:SS`, local time; `ms` adds `.mmm`. */
export function formatTime(t: number | string | Date, opts: { ms?: boolean; now?: number } = {}): string {
  const d = t instanceof Date ? t : new Date(typeof t === 'string' ? Date.parse(t) : t);
  if (Number.isNaN(d.getTime())) return String(t);
  const now = new Date(opts.now ?? Date.now());
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${opts.ms ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return sameDay ? clock : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
}

/** The exact time for a tooltip: ISO 8601, UTC. */
export function timeTitle(t: number | string): string {
  const ms = typeof t === 'string' ? Date.parse(t) : t;
  return Number.isNaN(ms) ? String(t) : new Date(ms).toISOString();
}

/** A duration in words a person reads at a glance: `4s`, `10m`, `2h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** An uptime, with seconds under an hour: `42s`, `3m 12s`, `2h 5m`. */
export function formatUptime(seconds: number): string {
  if (seconds >= 60 && seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return formatDuration(seconds * 1000);
}

/** How long ago: `just now` under a second (and for a time slightly ahead: clocks differ), else `10m ago`. */
export function formatAge(ms: number): string {
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

const superscript: Record<string, string> = { '-': '⁻', '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹' };

/**
 * A number for people: integers with digit grouping (`1,500`), fractions to
 * at most three decimals, large values compact (`1.8M`, `2.3B`, `4.1T`) when
 * `compact`, and beyond that `1.2×10¹⁸`: never the `e+N` form.
 */
export function formatNumber(n: number, opts: { compact?: boolean } = {}): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 1e15 || (abs > 0 && abs < 1e-4)) {
    const [m, e] = n.toExponential(2).split('e');
    return `${Number(m)}×10${[...String(Number(e))].map((c) => superscript[c] ?? c).join('')}`;
  }
  if (opts.compact && abs >= 1e6) return new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 }).format(n);
  // 'min2': a year or a port stays 2026, not 2,026; from five digits on, 12,345.
  return n.toLocaleString(undefined, { maximumFractionDigits: abs >= 100 ? 1 : 3, useGrouping: 'min2' } as Intl.NumberFormatOptions);
}

/** A field's value in a table cell or a legend: a time when it is one, a number formatted, else short JSON. */
export function formatField(name: string, v: unknown, max = 80): string {
  const t = fieldTime(name, v);
  if (t !== undefined) return formatTime(t);
  if (typeof v === 'number') return formatNumber(v);
  return short(v, max);
}

/** One line of JSON (a string as is), cut to `max` characters. */
export function short(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/**
 * A pulse's data on one line: a flat object as `count 3 · at 01:02:03`, each
 * field through `formatField`; anything else as `formatField` of `value`.
 */
export function formatData(data: unknown, max = 120): string {
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    const s = Object.entries(data as Record<string, unknown>)
      .map(([k, v]) => `${k} ${formatField(k, v, 40)}`)
      .join(' · ');
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }
  return formatField('value', data, max);
}

/** A count or a log position: a whole number with digit grouping (`1,500`). */
export const formatCount = (n: number): string => n.toLocaleString();
