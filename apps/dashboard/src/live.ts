import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MykoClient, type ConnectionStatus, type ItemLike, type QueryChange, type QueryResult, type QuerySpec, type ReportSpec } from '@myko/client';

/**
 * One Myko client for the page, connected to the server that served it
 * (`/myko` on the same host and port), plus the HTTP API of the ops module.
 * A token (authentication on) comes from `?access_token=` once, then
 * localStorage.
 */

const tokenKey = 'myko.dashboard.token';

function initialToken(): string | undefined {
  const fromUrl = new URLSearchParams(location.search).get('access_token');
  if (fromUrl) {
    localStorage.setItem(tokenKey, fromUrl);
    return fromUrl;
  }
  return localStorage.getItem(tokenKey) ?? undefined;
}

export const token = initialToken();

export function setToken(value: string | null): void {
  if (value) localStorage.setItem(tokenKey, value);
  else localStorage.removeItem(tokenKey);
  location.reload();
}

const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/myko`;

export const client = new MykoClient({ url: wsUrl, ...(token ? { token } : {}), commandTimeoutMs: 15000 });

/** A URL of the ops API with the token added (EventSource cannot send headers). */
export function apiUrl(path: string, params: Record<string, string> = {}): string {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== '') u.searchParams.set(k, v);
  if (token) u.searchParams.set('access_token', token);
  return u.pathname + u.search;
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(apiUrl(path), init);
  const body = (await res.json().catch(() => ({}))) as T & { message?: string };
  if (!res.ok && res.status !== 503) throw new Error(body.message ?? `${res.status} ${res.statusText}`);
  return body;
}

export function useStatus(): ConnectionStatus {
  const [s, set] = useState<ConnectionStatus>(client.status.current);
  useEffect(() => client.status.subscribe(set), []);
  return s;
}

export interface Live<V> {
  value: V | undefined;
  error: Error | undefined;
}

const specKey = (spec: unknown) => JSON.stringify(spec);

/** A live query's whole result; `null` spec = nothing to watch. */
export function useQuery<T extends ItemLike>(spec: QuerySpec<T> | null): Live<QueryResult<T>> {
  const [state, set] = useState<Live<QueryResult<T>>>({ value: undefined, error: undefined });
  const key = spec ? specKey(spec) : '';
  useEffect(() => {
    if (!spec) return;
    set({ value: undefined, error: undefined });
    return client.watchQuery<T>(spec).subscribe(
      (value) => set({ value, error: undefined }),
      (error) => set({ value: undefined, error }),
    );
  }, [key]);
  return state;
}

/** Items of a live query as an array (empty until the first answer). */
export function useItems<T extends ItemLike>(spec: QuerySpec<T> | null): readonly T[] {
  return useQuery(spec).value?.values ?? [];
}

export function useReport<R>(spec: ReportSpec<R> | null): Live<R> {
  const [state, set] = useState<Live<R>>({ value: undefined, error: undefined });
  const key = spec ? specKey(spec) : '';
  useEffect(() => {
    if (!spec) return;
    return client.watchReport<R>(spec).subscribe(
      (value) => set({ value, error: undefined }),
      (error) => set({ value: undefined, error }),
    );
  }, [key]);
  return state;
}

/** Raw changes of a live query, to a callback (no re-render by itself). */
export function useQueryDiff<T extends ItemLike>(spec: QuerySpec<T> | null, onChange: (c: QueryChange<T>) => void): void {
  const cb = useRef(onChange);
  cb.current = onChange;
  const key = spec ? specKey(spec) : '';
  useEffect(() => {
    if (!spec) return;
    return client.watchQueryDiff<T>(spec).subscribe((c) => cb.current(c));
  }, [key]);
}

/** Server-Sent Events of the ops API, parsed as JSON; `onEvent` gets each payload and the event name. */
export function useSse(path: string | null, onEvent: (data: unknown, event: string) => void): { open: boolean } {
  const cb = useRef(onEvent);
  cb.current = onEvent;
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!path) return;
    const es = new EventSource(apiUrl(path));
    const handle = (name: string) => (e: MessageEvent<string>) => {
      try {
        cb.current(JSON.parse(e.data), name);
      } catch {
        // a malformed line is skipped
      }
    };
    es.onmessage = handle('message');
    es.addEventListener('dropped', handle('dropped') as EventListener);
    es.onopen = () => setOpen(true);
    es.onerror = () => setOpen(false);
    return () => es.close();
  }, [path]);
  return { open };
}

/** Re-render at most every `ms` while `active`: for values kept outside of state (pulse histories). */
export function useTicker(ms: number, active = true): number {
  const [n, set] = useState(0);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => set((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms, active]);
  return n;
}

/** Stable memo by JSON key, for specs built inline. */
export function useSpec<S>(make: () => S, deps: unknown[]): S {
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(make, [JSON.stringify(deps)]);
}
