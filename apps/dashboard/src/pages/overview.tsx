import { useEffect, useState } from 'preact/hooks';
import { countOf, getAll, type MItem } from '@myko/client';
import { getJson, useItems, useReport } from '../live.js';
import { useStats, type Stats } from '../stats.js';
import { Sparkline } from '../components/sparkline.js';
import { formatCount, formatNumber, formatTime, formatUptime, timeTitle, toEpochMs } from '../format.js';
import { ReactionsPanel } from '../components/reactions-panel.js';

/**
 * Overview: this server (store, log position, verify), throughput, the
 * connected clients and cluster members (live queries on Client and Server),
 * and every item type with its live count (a count report per type).
 */

interface Health {
  status: string;
  ready: boolean;
  store: { kind: string; reachable: boolean; ms: number; error?: string };
}

const clientsQ = getAll<MItem>('Client');
const serversQ = getAll<MItem>('Server');

function useHealth(): Health | undefined {
  const [h, set] = useState<Health | undefined>();
  useEffect(() => {
    let alive = true;
    const poll = () =>
      getJson<Health>('/health').then(
        (v) => alive && set(v),
        () => alive && set({ status: 'unreachable', ready: false, store: { kind: '?', reachable: false, ms: 0 } }),
      );
    void poll();
    const t = setInterval(poll, 5000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, []);
  return h;
}

/** A time field of an item (ISO string or epoch ms) in the dashboard's one time format. */
function Time({ value }: { value: unknown }) {
  const t = toEpochMs(value);
  return t === undefined ? <>{typeof value === 'string' ? value : ''}</> : <span title={timeTitle(t)}>{formatTime(t)}</span>;
}

export function OverviewPage() {
  const { stats, eps } = useStats();
  const health = useHealth();
  const clients = useItems(clientsQ);
  const servers = useItems(serversQ);

  return (
    <div class="page overview">
      <div class="page-head">
        <h1>Overview</h1>
        {stats && <div class="muted">server {stats.serverId}</div>}
      </div>
      <div class="cards">
        <div class="card" data-testid="card-health">
          <h3>Health</h3>
          <div class={`big ${health?.ready ? 'ok-text' : 'off-text'}`}>{health?.status ?? '…'}</div>
          <div class="muted small">
            store {health?.store.kind ?? '…'} {health ? (health.store.reachable ? `reachable (${health.store.ms} ms)` : `unreachable ${health.store.error ?? ''}`) : ''}
          </div>
        </div>
        <div class="card" data-testid="card-log">
          <h3>Log</h3>
          <div class="big" data-testid="log-position">{stats ? formatCount(stats.position) : '…'}</div>
          <div class="muted small">
            position · {stats?.store ?? '…'} {stats?.cluster ? '(cluster member)' : '(embedded)'} · up {stats ? formatUptime(stats.uptimeSeconds) : '…'}
          </div>
        </div>
        <div class="card" data-testid="card-eps">
          <h3>Events / s</h3>
          <div class="big" data-testid="events-per-second">{stats ? formatNumber(stats.eventsPerSecond) : '…'}</div>
          <Sparkline series={[{ name: 'events/s', values: eps }]} width={200} height={36} label="events per second" />
        </div>
        <div class="card" data-testid="card-connections">
          <h3>Connections</h3>
          <div class="big">{stats?.connections ?? '…'}</div>
          <div class="muted small">
            {stats?.liveQueries ?? '…'} live queries · {stats?.liveReports ?? '…'} reports
          </div>
        </div>
        <VerifyCard stats={stats} />
      </div>

      <div class="columns">
        <section class="panel">
          <h2>Item types</h2>
          <div class="scroll-x">
            <table class="grid" data-testid="item-types">
              <thead>
                <tr>
                  <th>type</th>
                  <th class="num">count</th>
                  <th>stored</th>
                </tr>
              </thead>
              <tbody>
                {(stats?.itemTypes ?? []).map((t) => (
                  <tr key={t.name}>
                    <td>
                      <a href={`#/data/${encodeURIComponent(t.name)}`}>{t.name}</a>
                    </td>
                    <td class="num">
                      <LiveCount itemType={t.name} fallback={t.count} />
                    </td>
                    <td class="muted">{t.persisted ? 'log' : 'memory only'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section class="panel">
          <h2>
            Clients <span class="muted">({clients.length})</span>
          </h2>
          <div class="scroll-x">
            <table class="grid" data-testid="clients">
              <thead>
                <tr>
                  <th>id</th>
                  <th>address</th>
                  <th>dialect</th>
                  <th>connected</th>
                  <th>server</th>
                </tr>
              </thead>
              <tbody>
                {[...clients]
                  .sort((a, b) => String(a.connectedAt).localeCompare(String(b.connectedAt)))
                  .map((c) => (
                    <tr key={c.id}>
                      <td title={c.id}>
                        <a href={`#/data/Client/${encodeURIComponent(c.id)}`}>{c.id.slice(0, 8)}</a>
                      </td>
                      <td>{String(c.address ?? '')}</td>
                      <td>{String(c.dialect ?? '')}</td>
                      <td>
                        <Time value={c.connectedAt} />
                      </td>
                      <td title={String(c.serverId)}>{String(c.serverId ?? '').slice(0, 8)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
          <h2>
            Servers <span class="muted">({servers.length})</span>
          </h2>
          {servers.length === 0 ? (
            <div class="muted small">An embedded server: cluster members publish Server items (PostgreSQL mode).</div>
          ) : (
            <div class="scroll-x">
              <table class="grid" data-testid="servers">
                <thead>
                  <tr>
                    <th>id</th>
                    <th>address</th>
                    <th>version</th>
                    <th>started</th>
                  </tr>
                </thead>
                <tbody>
                  {servers.map((s) => (
                    <tr key={s.id} class={s.id === stats?.serverId ? 'me' : ''}>
                      <td title={s.id}>
                        {s.id.slice(0, 8)}
                        {s.id === stats?.serverId ? ' (this one)' : ''}
                      </td>
                      <td>{`${String(s.address)}:${String(s.port)}`}</td>
                      <td>{String(s.version ?? '')}</td>
                      <td>
                        <Time value={s.startedAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
      <ReactionsPanel />
    </div>
  );
}

/** A live count report per type; until its first answer, the figure from the stats stream. */
function LiveCount({ itemType, fallback }: { itemType: string; fallback: number }) {
  const { value } = useReport(countOf(itemType));
  return <span data-testid={`count-${itemType}`}>{formatCount(value ?? fallback)}</span>;
}

function VerifyCard({ stats }: { stats: Stats | undefined }) {
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const v = stats?.verify;
  const run = async () => {
    setRunning(true);
    setError(undefined);
    try {
      await getJson('/api/verify', { method: 'POST' });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setRunning(false);
    }
  };
  const last = v?.last;
  return (
    <div class="card" data-testid="card-verify">
      <h3>Log verification</h3>
      <div class={`big ${last ? (last.ok ? 'ok-text' : 'off-text') : ''}`} data-testid="verify-status">
        {running || v?.running ? 'verifying…' : last ? (last.ok ? 'verified' : 'FAILED') : 'not run'}
      </div>
      <div class="muted small">
        {last
          ? last.ok
            ? `${formatCount(last.checked)} events in ${last.ms} ms · ${formatTime(last.at)}`
            : `at position ${last.failure?.position}: ${last.failure?.reason}`
          : v?.onBoot
            ? 'verified at boot (--verify-on-boot)'
            : 'every hash and link of the log'}
      </div>
      {error && <div class="error small">{error}</div>}
      <button type="button" onClick={() => void run()} disabled={running || v?.running}>
        Verify now
      </button>
    </div>
  );
}
