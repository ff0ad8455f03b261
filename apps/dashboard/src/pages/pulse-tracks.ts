import { useRef } from 'preact/hooks';
import { getAll } from '@myko/client';
import type { Pulse } from '@myko/rship';
import { getJson, useQueryDiff, useTicker } from '../live.js';
import { fieldTime, toEpochMs } from '../format.js';
import { serverNow } from '../server-clock.js';

/**
 * Recent pulses per emitter, kept outside of component state: pulses can
 * arrive far faster than frames.
 *
 * A pulse's time is its own `timestamp` (epoch ms or seconds, or an ISO
 * string, as executors send it), else the time the server committed it: for
 * a pulse that arrives while the page is open, the moment it arrived on the
 * server's clock (server-clock.ts); for the pulses already there when the
 * page opens (or reconnects), the server's record of when each was committed,
 * `GET /api/changed-at/Pulse`. Ages are then taken against the server's clock,
 * so a page opened ten minutes after the last pulse says "10m ago". An
 * executor's timestamp is on its own clock, taken to agree with the server's
 * (show networks keep their machines on NTP); a time ahead of the server's
 * reads "just now". With `persistPulses` the server does not keep these
 * times (the log has them): a pulse without a timestamp that was there before
 * the page opened reads "time unknown" until its next pulse.
 */

const pulsesQ = getAll<Pulse>('Pulse');
const historyLength = 60;

export interface PulseTrack {
  latest: Pulse;
  /** When the latest pulse happened (epoch ms, server's clock); undefined while unknown. */
  time: number | undefined;
  /** Where `time` comes from. */
  source: 'pulse' | 'server' | 'unknown';
  /** Numeric series: the data itself when it is a number, else each numeric field of it (first four), times left out. */
  series: Map<string, number[]>;
  /** Pulses seen by this page. */
  count: number;
}

function numericFields(data: unknown): [string, number][] {
  if (typeof data === 'number' && Number.isFinite(data)) return [['value', data]];
  if (typeof data === 'boolean') return [['value', data ? 1 : 0]];
  if (data && typeof data === 'object' && !Array.isArray(data))
    return Object.entries(data as Record<string, unknown>)
      // A time only ever rises: its line says nothing, and its figure is shown with the value.
      .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]) && fieldTime(e[0], e[1]) === undefined)
      .slice(0, 4);
  return [];
}

/** What `/api/changed-at/TYPE` answers: the server's commit time of each item (memory-only types). */
interface ChangedAt {
  tracked: boolean;
  changedAt: Record<string, string>;
}

export function usePulses(): Map<string, PulseTrack> {
  const tracks = useRef(new Map<string, PulseTrack>()).current;
  useQueryDiff(pulsesQ, (c) => {
    const pending: PulseTrack[] = [];
    if (c.reset) {
      const present = new Set(c.upserts.map((p) => p.emitterId ?? p.id));
      for (const key of tracks.keys()) if (!present.has(key)) tracks.delete(key);
    }
    for (const p of c.upserts) {
      const key = p.emitterId ?? p.id;
      let t = tracks.get(key);
      // A reset resends every pulse: one this page already has is not a new pulse.
      if (c.reset && t && JSON.stringify(t.latest) === JSON.stringify(p)) continue;
      if (!t) tracks.set(key, (t = { latest: p, time: undefined, source: 'unknown', series: new Map(), count: 0 }));
      t.latest = p;
      t.count++;
      const own = toEpochMs(p.timestamp);
      if (own !== undefined) Object.assign(t, { time: own, source: 'pulse' });
      else if (c.reset) {
        // Committed before this page (re)connected: the server says when.
        Object.assign(t, { time: undefined, source: 'unknown' });
        pending.push(t);
      } else Object.assign(t, { time: serverNow(), source: 'server' });
      for (const [name, v] of numericFields(p.data)) {
        let s = t.series.get(name);
        if (!s) t.series.set(name, (s = []));
        s.push(v);
        if (s.length > historyLength) s.shift();
      }
    }
    // The ids asked for when they are few (the usual case: a handful of emitters) and the list can hold them, else the whole type.
    const ids = pending.length <= 200 && !pending.some((t) => t.latest.id.includes(',')) ? `?ids=${pending.map((t) => encodeURIComponent(t.latest.id)).join(',')}` : '';
    if (pending.length > 0)
      getJson<ChangedAt>(`/api/changed-at/Pulse${ids}`).then(
        (r) => {
          for (const t of pending) {
            const at = r.changedAt?.[t.latest.id];
            // Only where nothing newer came meanwhile.
            if (t.source === 'unknown' && at !== undefined && tracks.get(t.latest.emitterId ?? t.latest.id) === t) Object.assign(t, { time: Date.parse(at), source: 'server' });
          }
        },
        () => undefined, // an older server: the age stays unknown
      );
  });
  useTicker(150);
  return tracks;
}
