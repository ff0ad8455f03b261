import { useEffect, useState } from 'preact/hooks';
import { getJson, setToken, token, useStatus } from './live.js';
import { useStats } from './stats.js';
import { formatCount, formatNumber } from './format.js';
import { OverviewPage } from './pages/overview.js';
import { RshipPage } from './pages/rship.js';
import { DataPage } from './pages/data.js';
import { EventsPage } from './pages/events.js';

/** Routes live in the hash (`#/rship`, `#/data/Target/ID`), so the server needs no knowledge of them. */
function useRoute(): string[] {
  const parse = () =>
    location.hash
      .replace(/^#\/?/, '')
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });
  const [route, set] = useState(parse);
  useEffect(() => {
    const on = () => set(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

const tabs = [
  ['overview', 'Overview'],
  ['rship', 'Rocketship'],
  ['data', 'Data'],
  ['events', 'Events'],
] as const;

export function App() {
  const route = useRoute();
  const page = route[0] ?? 'overview';
  const status = useStatus();
  const { stats } = useStats();
  // /health stays open with authentication on: it tells whether a token is needed.
  const [auth, setAuth] = useState(false);
  useEffect(() => {
    getJson<{ auth?: boolean }>('/health').then((h) => setAuth(h.auth === true), () => undefined);
  }, []);
  const statusText =
    status.type === 'connected'
      ? 'connected'
      : status.type === 'reconnecting'
        ? `reconnecting in ${Math.round(status.delayMs / 100) / 10}s`
        : status.type === 'disconnected'
          ? `disconnected (${status.code})`
          : status.type;
  return (
    <div class="app">
      <nav class="top">
        <a class="brand" href="#/overview">
          Myko
        </a>
        {tabs.map(([id, label]) => (
          <a key={id} href={`#/${id}`} class={page === id ? 'tab active' : 'tab'}>
            {label}
          </a>
        ))}
        <span class="spacer" />
        {stats && (
          <span class="muted small nav-stats">
            {stats.store} · pos {formatCount(stats.position)} · {formatNumber(stats.eventsPerSecond)} ev/s
          </span>
        )}
        {(auth || token) && (
          <button type="button" class="link small" onClick={() => setToken(prompt('Access token (JWT); empty to forget it', token ?? ''))}>
            {token ? 'token ✓' : 'set token'}
          </button>
        )}
        <span class={`pill conn-${status.type}`} data-testid="connection" title={'url' in status ? status.url : ''}>
          {statusText}
        </span>
      </nav>
      <main>
        {page === 'overview' && <OverviewPage />}
        {page === 'rship' && <RshipPage />}
        {page === 'data' && <DataPage itemType={route[1]} itemId={route[2]} />}
        {page === 'events' && <EventsPage />}
        {!tabs.some(([id]) => id === page) && <div class="empty">No page {page}.</div>}
      </main>
    </div>
  );
}
