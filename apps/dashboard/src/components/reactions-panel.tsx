import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../live.js';

/** One reaction as `/api/reactions` reports it (packages/server/src/reactions/runner.ts, ReactionStatus). */
interface ReactionRow {
  id: string;
  itemType: string;
  changeType: string;
  active: boolean;
  position: number;
  lag: number;
  handled: number;
  retries: number;
  failures: number;
  lastError?: { position: number; itemId: string; attempt: number; message: string; at: string };
}

/**
 * Reactions (sagas): position, lag, handled, retries and given-up events per
 * reaction, polled every 2 s. Nothing is shown when the server has none.
 */
export function ReactionsPanel() {
  const [rows, setRows] = useState<ReactionRow[]>([]);
  useEffect(() => {
    let alive = true;
    const poll = () => getJson<{ reactions: ReactionRow[] }>('/api/reactions').then((r) => alive && setRows(r.reactions), () => undefined);
    void poll();
    const t = setInterval(poll, 2000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, []);
  if (rows.length === 0) return null;
  return (
    <section class="panel">
      <h2>Reactions</h2>
      <table class="grid" data-testid="reactions">
        <thead>
          <tr>
            <th>reaction</th>
            <th>on</th>
            <th class="num">position</th>
            <th class="num">lag</th>
            <th class="num">handled</th>
            <th class="num">retries</th>
            <th class="num">failed</th>
            <th>last error</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id} data-id={r.id}>
              <td>
                {r.id} {!r.active && <span class="muted small">(another member)</span>}
              </td>
              <td class="muted">
                {r.changeType} {r.itemType}
              </td>
              <td class="num">{r.position.toLocaleString()}</td>
              <td class="num" data-testid={`reaction-lag-${r.id}`}>{r.lag.toLocaleString()}</td>
              <td class="num" data-testid={`reaction-handled-${r.id}`}>{r.handled.toLocaleString()}</td>
              <td class="num">{r.retries.toLocaleString()}</td>
              <td class={`num ${r.failures > 0 ? 'off-text' : ''}`} data-testid={`reaction-failures-${r.id}`}>
                {r.failures.toLocaleString()}
              </td>
              <td class="small">{r.lastError ? `#${r.lastError.position} ${r.lastError.itemId}: ${r.lastError.message}` : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
