import { useEffect, useState } from 'preact/hooks';
import { apiUrl } from './live.js';
import { noteServerTime } from './server-clock.js';

/** What the server's /api/stats stream sends once a second (packages/server/src/ops). */
export interface Stats {
  at: string;
  serverId: string;
  store: string;
  cluster: boolean;
  position: number;
  connections: number;
  liveQueries: number;
  liveReports: number;
  eventsTotal: number;
  eventsPerSecond: number;
  uptimeSeconds: number;
  itemTypes: { name: string; count: number; persisted: boolean }[];
  verify: {
    onBoot: boolean;
    running: boolean;
    last: { ok: boolean; checked: number; lastPosition: number; ms: number; at: string; failure?: { position: number; reason: string } } | null;
    /** The --verify-on-boot run, kept after later runs. */
    boot?: Stats['verify']['last'];
  };
  auth: boolean;
}

type Listener = (s: Stats | undefined, history: number[]) => void;

/** One stream for the whole page; events/s of the last two minutes kept for the chart. */
let current: Stats | undefined;
const eps: number[] = [];
const listeners = new Set<Listener>();
let source: EventSource | undefined;
export let statsError = false;

function ensure(): void {
  if (source) return;
  source = new EventSource(apiUrl('/api/stats'));
  source.onmessage = (e: MessageEvent<string>) => {
    current = JSON.parse(e.data) as Stats;
    noteServerTime(current.at);
    statsError = false;
    eps.push(current.eventsPerSecond);
    if (eps.length > 120) eps.shift();
    for (const l of listeners) l(current, eps);
  };
  source.onerror = () => {
    statsError = true;
    for (const l of listeners) l(current, eps);
  };
}

export function useStats(): { stats: Stats | undefined; eps: readonly number[] } {
  const [state, set] = useState({ stats: current, eps: eps as readonly number[] });
  useEffect(() => {
    ensure();
    const l: Listener = (s, h) => set({ stats: s, eps: [...h] });
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return state;
}
