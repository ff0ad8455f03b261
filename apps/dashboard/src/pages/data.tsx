import { useEffect, useState } from 'preact/hooks';
import { byIds, byQuery, getAll, type MItem, type QuerySpec } from '@myko/client';
import { getJson, useQuery } from '../live.js';
import { useStats } from '../stats.js';
import { Json, short } from '../components/json.js';

/**
 * Data browser: any item type as a live table. The server keeps the rows in
 * id order and sends only the window shown (`window {offset, limit}`), so a
 * type with a million items costs one page. The field filter is an equality
 * filter run by the server (`GetXsByQuery`); the quick search and the column
 * sort act on the page shown. Clicking a row shows the item (live) and its
 * history from the log (`/api/history`).
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
        <ul>
          {types.map((t) => (
            <li key={t.name} class={t.name === itemType ? 'active' : ''}>
              <a href={`#/data/${encodeURIComponent(t.name)}`}>
                {t.name} <span class="muted">{t.count.toLocaleString()}</span>
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
        {itemType ? <TypeTable key={itemType} itemType={itemType} selected={itemId} /> : <div class="empty">Choose an item type.</div>}
      </div>
    </div>
  );
}

function TypeTable({ itemType, selected }: { itemType: string; selected: string | undefined }) {
  const [offset, setOffset] = useState(0);
  const [limit, setLimit] = useState(50);
  const [field, setField] = useState('');
  const [value, setValue] = useState('');
  const [applied, setApplied] = useState<{ field: string; value: string } | null>(null);
  const [search, setSearch] = useState('');
  const [sort, setSort] = useState<{ col: string; dir: 1 | -1 } | null>(null);

  const win = { offset, limit };
  const spec: QuerySpec<MItem> = applied ? byQuery<MItem>(itemType, { [applied.field]: filterValue(applied.value) }, win) : getAll<MItem>(itemType, win);
  const { value: result, error } = useQuery(spec);
  const rows = result?.values ?? [];
  const total = result?.totalCount ?? 0;

  // Columns: id, then the most common fields of the rows shown.
  const freq = new Map<string, number>();
  for (const r of rows) for (const k of Object.keys(r)) if (k !== 'id') freq.set(k, (freq.get(k) ?? 0) + 1);
  const cols = ['id', ...[...freq.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 7).map(([k]) => k)];

  const needle = search.trim().toLowerCase();
  let shown = needle ? rows.filter((r) => JSON.stringify(r).toLowerCase().includes(needle)) : [...rows];
  if (sort) {
    const { col, dir } = sort;
    shown = shown.sort((a, b) => {
      const x = a[col];
      const y = b[col];
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
      return short(x ?? '', 200).localeCompare(short(y ?? '', 200)) * dir;
    });
  }

  const applyFilter = (e: Event) => {
    e.preventDefault();
    setOffset(0);
    setApplied(field.trim() ? { field: field.trim(), value } : null);
  };
  const clickSort = (col: string) => setSort(sort?.col === col ? (sort.dir === 1 ? { col, dir: -1 } : null) : { col, dir: 1 });
  const last = Math.min(offset + limit, total);

  return (
    <div class="type-table">
      <div class="page-head">
        <h1>{itemType}</h1>
        <div class="muted" data-testid="total-count">
          {total.toLocaleString()} {applied ? 'matching' : 'items'}
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
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - limit))}>
            ‹
          </button>
          <span data-testid="window">
            {total === 0 ? '0' : `${offset + 1}–${last}`} of {total.toLocaleString()}
          </span>
          <button type="button" disabled={offset + limit >= total} onClick={() => setOffset(offset + limit)}>
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
      {error && <div class="error">{error.message}</div>}
      <div class="split">
        <div class="table-wrap">
          <table class="grid rows" data-testid="rows">
            <thead>
              <tr>
                {cols.map((c) => (
                  <th key={c} onClick={() => clickSort(c)} class="sortable">
                    {c}
                    {sort?.col === c ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
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
                    <td key={c} title={c === 'id' ? r.id : undefined}>
                      {c in r ? short(r[c], 48) : ''}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {result && rows.length === 0 && <div class="empty small">nothing here</div>}
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
                <span class={`ct ${e.changeType}`}>{e.changeType}</span> #{e.position} · {new Date(e.createdAt).toLocaleString()}
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
