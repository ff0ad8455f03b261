import { useEffect, useState } from 'preact/hooks';
import { byIds, byQuery, getAll, type MItem, type QuerySpec } from '@myko/client';
import { apiUrl, getJson, useQuery } from '../live.js';
import { useStats } from '../stats.js';
import { formatCount, formatField, formatTime, timeTitle } from '../format.js';
import { Json, short } from '../components/json.js';
import { useWindback, WindbackBar } from '../components/windback-bar.js';

/**
 * Data browser: any item type as a live table, sorted over the whole set.
 *
 * In id order (the default, ascending) the rows are a live query window: the
 * server keeps the ids sorted and sends only the slice shown (`window
 * {offset, limit}`) and its changes, so a type with a million items costs one
 * page. The live window orders by id only, so any other order (another
 * column, or id descending) is a page of `/api/items`, which the server sorts
 * over the whole (filtered) set; it is fetched again, at most every 200 ms,
 * whenever an event of the type is committed (`/api/events?types=X`), so the
 * page, its order and the count stay live. The field filter is an equality
 * filter run by the server in both modes; only the quick search acts on the
 * page shown. Clicking a row shows the item (live) and its history from the
 * log (`/api/history`).
 */
const pageSizes = [25, 50, 100, 250];

/** A filter value as JSON when it reads as JSON (3, true, "x", null), else as the string typed. */
function filterValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function DataPage({ itemType, itemId }: { itemType: string | undefined; itemId: string | undefined }) {
  const { stats } = useStats();
  const [custom, setCustom] = useState('');
  const types = stats?.itemTypes ?? [];
  return (
    <div class="page data">
      <aside class="types">
        <h3>Item types</h3>
        {/* On a narrow screen the list below gives way to this select (styles.css, .types). */}
        <select
          class="type-select"
          data-testid="type-select"
          aria-label="item type"
          value={itemType ?? ''}
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            if (v) location.hash = `#/data/${encodeURIComponent(v)}`;
          }}
        >
          <option value="">choose a type…</option>
          {itemType && !types.some((t) => t.name === itemType) && <option value={itemType}>{itemType}</option>}
          {types.map((t) => (
            <option key={t.name} value={t.name}>
              {t.name} ({formatCount(t.count)})
            </option>
          ))}
        </select>
        <ul class="type-list" data-testid="type-list">
          {types.map((t) => (
            <li key={t.name} class={t.name === itemType ? 'active' : ''}>
              <a href={`#/data/${encodeURIComponent(t.name)}`}>
                {t.name} <span class="muted">{formatCount(t.count)}</span>
              </a>
            </li>
          ))}
        </ul>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (custom.trim()) location.hash = `#/data/${encodeURIComponent(custom.trim())}`;
          }}
        >
          <input placeholder="other type…" value={custom} onInput={(e) => setCustom((e.target as HTMLInputElement).value)} />
        </form>
      </aside>
      <div class="data-main">
        <WindbackBar />
        {itemType ? <TypeTable key={itemType} itemType={itemType} selected={itemId} /> : <div class="empty">Choose an item type.</div>}
      </div>
    </div>
  );
}

interface Sort {
  col: string;
  dir: 1 | -1;
}

const idOrder: Sort = { col: 'id', dir: 1 };

interface SortedPage {
  total: number;
  items: MItem[];
}

/** How long a burst of events is gathered before the sorted page is fetched again. */
const refetchDelayMs = 200;

/**
 * A page of `/api/items` sorted by the server, kept current: fetched again
 * after events of the type (at most one request in flight) and when the event
 * stream (re)opens, which covers anything missed before or between streams.
 * `sort` null: inactive.
 */
function useSortedPage(itemType: string, sort: Sort | null, where: Record<string, unknown> | undefined, offset: number, limit: number) {
  const [state, set] = useState<{ value?: SortedPage; error?: Error }>({});
  const key = sort ? JSON.stringify([itemType, sort, where ?? null, offset, limit]) : '';
  useEffect(() => {
    if (!sort) return;
    let alive = true;
    let inFlight = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const params = { sort: sort.col, dir: sort.dir === 1 ? 'asc' : 'desc', offset: String(offset), limit: String(limit), where: where ? JSON.stringify(where) : '' };
    const path = apiUrl(`/api/items/${encodeURIComponent(itemType)}`, params);
    const load = async () => {
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      try {
        const value = await getJson<SortedPage>(path);
        if (alive) set({ value });
      } catch (error) {
        if (alive) set({ error: error as Error });
      } finally {
        inFlight = false;
        if (again && alive) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void load();
      }, refetchDelayMs);
    };
    // Keep the rows shown until the new page arrives (no blank table while paging); drop a stale error.
    set((s) => ({ value: s.value }));
    void load();
    const es = new EventSource(apiUrl('/api/events', { types: itemType }));
    es.onmessage = schedule;
    es.addEventListener('dropped', schedule);
    es.onopen = schedule;
    return () => {
      alive = false;
      clearTimeout(timer);
      es.close();
    };
  }, [key]);
  return state;
}

function TypeTable({ itemType, selected }: { itemType: string; selected: string | undefined }) {
  const [offset, setOffset] = useState(0);
  const [limit, setLimit] = useState(50);
  const [field, setField] = useState('');
  const [value, setValue] = useState('');
  const [applied, setApplied] = useState<{ field: string; value: string } | null>(null);
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<Sort>(idOrder);

  const where = applied ? { [applied.field]: filterValue(applied.value) } : undefined;
  // The live window orders by id ascending; every other order is sorted by the server per page. Wound back,
  // only the live window shows the past (the sorted pages are of live state): id order.
  const windback = useWindback();
  const serverSorted = !windback && (sort.col !== 'id' || sort.dir !== 1);
  const win = { offset, limit };
  const spec: QuerySpec<MItem> = where ? byQuery<MItem>(itemType, where, win) : getAll<MItem>(itemType, win);
  const live = useQuery(serverSorted ? null : spec);
  const sorted = useSortedPage(itemType, serverSorted ? sort : null, where, offset, limit);
  const rows = (serverSorted ? sorted.value?.items : live.value?.values) ?? [];
  const total = (serverSorted ? sorted.value?.total : live.value?.totalCount) ?? 0;
  const loaded = serverSorted ? sorted.value !== undefined : live.value !== undefined;
  const error = serverSorted ? sorted.error : live.error;

  // Columns: id, the sort column, then the most common fields of the rows shown.
  const freq = new Map<string, number>();
  for (const r of rows) for (const k of Object.keys(r)) if (k !== 'id' && k !== sort.col) freq.set(k, (freq.get(k) ?? 0) + 1);
  const common = [...freq.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  const cols = sort.col === 'id' ? ['id', ...common.slice(0, 7)] : ['id', sort.col, ...common.slice(0, 6)];

  const needle = search.trim().toLowerCase();
  const shown = needle ? rows.filter((r) => JSON.stringify(r).toLowerCase().includes(needle)) : rows;

  const applyFilter = (e: Event) => {
    e.preventDefault();
    setOffset(0);
    setApplied(field.trim() ? { field: field.trim(), value } : null);
  };
  // Same column: flip the direction; another: ascending. A new order starts at its first page.
  const clickSort = (col: string) => {
    setSort(sort.col === col ? { col, dir: sort.dir === 1 ? -1 : 1 } : { col, dir: 1 });
    setOffset(0);
  };
  const last = Math.min(offset + limit, total);

  return (
    <div class="type-table">
      <div class="page-head">
        <h1>{itemType}</h1>
        <div class="muted" data-testid="total-count">
          {formatCount(total)} {applied ? 'matching' : 'items'}
        </div>
      </div>
      <div class="toolbar">
        <form class="filter" onSubmit={applyFilter}>
          <input placeholder="field" value={field} size={12} onInput={(e) => setField((e.target as HTMLInputElement).value)} />
          <span>=</span>
          <input placeholder="value (JSON or text)" value={value} size={18} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
          <button type="submit">Filter</button>
          {applied && (
            <button
              type="button"
              class="link"
              onClick={() => {
                setApplied(null);
                setField('');
                setValue('');
                setOffset(0);
              }}
            >
              clear
            </button>
          )}
        </form>
        <input class="search" placeholder="search this page" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <div class="pager">
          <button type="button" data-testid="page-prev" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - limit))}>
            ‹
          </button>
          <span data-testid="window">
            {total === 0 ? '0' : `${offset + 1}–${last}`} of {formatCount(total)}
          </span>
          <button type="button" data-testid="page-next" disabled={offset + limit >= total} onClick={() => setOffset(offset + limit)}>
            ›
          </button>
          <select
            value={String(limit)}
            onChange={(e) => {
              setLimit(Number((e.target as HTMLSelectElement).value));
              setOffset(0);
            }}
          >
            {pageSizes.map((n) => (
              <option key={n} value={String(n)}>
                {n} / page
              </option>
            ))}
          </select>
        </div>
      </div>
      <div class="muted small" data-testid="sort-note">
        {serverSorted
          ? `sorted by ${sort.col} ${sort.dir === 1 ? 'ascending' : 'descending'} over all ${formatCount(total)}${applied ? ' matching' : ''} items by the server, refreshed as ${itemType} changes`
          : 'in id order, a live window kept by the server'}
        {' · the search box filters this page only'}
      </div>
      {error && (
        <div class="error">
          {error.message}
          {serverSorted && (
            <>
              {' '}
              <button type="button" class="link" onClick={() => (setSort(idOrder), setOffset(0))}>
                back to id order
              </button>
            </>
          )}
        </div>
      )}
      <div class="split">
        <div class="table-wrap">
          <table class="grid rows" data-testid="rows">
            <thead>
              <tr>
                {cols.map((c) => (
                  <th
                    key={c}
                    onClick={() => clickSort(c)}
                    class="sortable"
                    data-col={c}
                    aria-sort={sort.col === c ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}
                  >
                    {c}
                    {sort.col === c ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr
                  key={r.id}
                  class={r.id === selected ? 'selected' : ''}
                  data-id={r.id}
                  onClick={() => (location.hash = `#/data/${encodeURIComponent(itemType)}/${encodeURIComponent(r.id)}`)}
                >
                  {cols.map((c) => (
                    <td key={c} title={c === 'id' ? r.id : c in r ? JSON.stringify(r[c]) : undefined}>
                      {c in r ? formatField(c, r[c], 48) : ''}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {loaded && rows.length === 0 && <div class="empty small">nothing here</div>}
        </div>
        {selected && <ItemDetail itemType={itemType} id={selected} />}
      </div>
    </div>
  );
}

interface HistoryEvent {
  position: number;
  changeType: 'SET' | 'DEL';
  createdAt: string;
  sourceId: string;
  clientId?: string;
  tx: string;
  item: MItem;
  identity?: { _id: string; pids: string[] };
}

function ItemDetail({ itemType, id }: { itemType: string; id: string }) {
  const { value: live } = useQuery(byIds<MItem>(itemType, [id]));
  const item = live?.items.get(id);
  const [history, setHistory] = useState<{ events: HistoryEvent[]; persisted: boolean } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [open, setOpen] = useState<number | undefined>();
  const load = () =>
    getJson<{ events: HistoryEvent[]; persisted: boolean }>(`/api/history/${encodeURIComponent(itemType)}/${encodeURIComponent(id)}`).then(
      (h) => (setHistory(h), setError(undefined)),
      (err: Error) => setError(err.message),
    );
  // Reload the history whenever the live item changes.
  const version = item ? JSON.stringify(item).length + ':' + String(item.hash ?? '') + ':' + (live?.sequence ?? 0) : 'none';
  useEffect(() => {
    void load();
  }, [itemType, id, version]);
  return (
    <div class="detail" data-testid="item-detail">
      <div class="detail-head">
        <h3>
          {itemType} <code>{id}</code>
        </h3>
        <a class="link" href={`#/data/${encodeURIComponent(itemType)}`}>
          close
        </a>
      </div>
      <h4>Current</h4>
      {live === undefined ? <div class="muted">…</div> : item ? <Json value={item} /> : <div class="muted">deleted (not in current state)</div>}
      <h4>
        History <span class="muted small">(oldest first)</span> <button type="button" class="link" onClick={() => void load()}>reload</button>
      </h4>
      {error && <div class="error small">{error}</div>}
      {history && !history.persisted && <div class="muted small">{itemType} is not written to the log: no history.</div>}
      {history && (
        <ol class="history" data-testid="history">
          {history.events.map((e, i) => (
            <li key={e.position} class={`ev ${e.changeType}`}>
              <button type="button" class="link" onClick={() => setOpen(open === i ? undefined : i)}>
                <span class={`ct ${e.changeType}`}>{e.changeType}</span> #{e.position} · <span title={timeTitle(e.createdAt)}>{formatTime(e.createdAt)}</span>
              </button>
              <span class="muted small"> src {e.sourceId.slice(0, 8)}{e.clientId ? ` · client ${e.clientId.slice(0, 8)}` : ''}{e.identity ? ` · _id ${e.identity._id.slice(0, 10)}` : ''}</span>
              {open === i && <Json value={e} />}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
