/**
 * Test helpers for the executor SDK tests (not exported by the package): a
 * live view of one query, kept by a raw TestClient exactly as a controller
 * or a UI would see it.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { TestClient } from '@myko/server/testing';

export interface View<T = any> {
  readonly items: Map<string, T>;
  /** Frames received for this query. */
  readonly responses: number;
  /** Resolves when `pred(items)` holds (checked now and after each response). */
  until(pred: (items: Map<string, T>) => boolean, timeoutMs?: number, what?: string): Promise<void>;
}

export function view<T = any>(c: TestClient, queryId: string, queryItemType: string, params: Record<string, unknown> = {}): View<T> {
  const tx = randomUUID();
  const items = new Map<string, T>();
  const waiters = new Set<() => void>();
  let responses = 0;
  c.ws.on('message', (raw: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:query-response' || f.data?.tx !== tx) return;
    responses++;
    if (f.data.sequence === 0) items.clear();
    for (const id of f.data.deletes ?? []) items.delete(id);
    for (const u of f.data.upserts ?? []) items.set(u.item.id, u.item);
    for (const w of [...waiters]) w();
  });
  c.send({ event: 'ws:m:query', data: { queryId, queryItemType, query: { tx, ...params } } });
  return {
    items,
    get responses() {
      return responses;
    },
    until(pred, timeoutMs = 3000, what = queryId) {
      if (responses > 0 && pred(items)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (responses === 0 || !pred(items)) return;
          waiters.delete(check);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${what}: condition not met within ${timeoutMs} ms; items: ${JSON.stringify([...items.values()]).slice(0, 2000)}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
  };
}

/** Send a command as a controller and wait for its response or error frame. */
export async function command(c: TestClient, commandId: string, params: Record<string, unknown>, timeoutMs = 5000): Promise<{ ok: true; response: any } | { ok: false; code: string; message: string }> {
  const tx = randomUUID();
  c.send({ event: 'ws:m:command', data: { commandId, command: { tx, ...params } } });
  const f = await c.next((x) => (x.event === 'ws:m:command-response' || x.event === 'ws:m:command-error') && x.data?.tx === tx, timeoutMs);
  return f.event === 'ws:m:command-response' ? { ok: true, response: f.data.response } : { ok: false, code: f.data.code, message: f.data.message };
}

/** A port that was free a moment ago (for restarting a server on the same address). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
