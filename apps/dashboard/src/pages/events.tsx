import { Fragment } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { useSse, useTicker } from '../live.js';
import { Json, short } from '../components/json.js';
import { formatCount, formatTime, timeTitle } from '../format.js';

/**
 * The live event stream: `/api/events` (Server-Sent Events from a writer
 * listener on the server), newest first, the last 500 kept. Pause freezes
 * the view while the stream goes on; resume shows the latest. Types can be
 * hidden at the server (`exclude`), e.g. Pulse at high rates.
 */

interface StreamEvent {
  position: number;
  itemType: string;
  changeType: 'SET' | 'DEL';
  id: string;
  createdAt: string;
  tx: string;
  sourceId: string;
  clientId?: string;
  item?: Record<string, unknown>;
  itemOmitted?: boolean;
}

const keep = 500;

export function EventsPage() {
  const [paused, setPaused] = useState(false);
  const [exclude, setExclude] = useState('');
  const [applied, setApplied] = useState('');
  const [open, setOpen] = useState<string | undefined>();
  const buf = useRef<{ list: StreamEvent[]; seq: number; received: number; dropped: number }>({ list: [], seq: 0, received: 0, dropped: 0 }).current;
  const frozen = useRef<StreamEvent[] | undefined>(undefined);
  const [receivedAtPause, setReceivedAtPause] = useState(0);

  const path = `/api/events${applied ? `?exclude=${encodeURIComponent(applied)}` : ''}`;
  const { open: connected } = useSse(path, (data, event) => {
    if (event === 'dropped') {
      buf.dropped += (data as { dropped: number }).dropped;
      return;
    }
    buf.list.unshift(data as StreamEvent);
    if (buf.list.length > keep) buf.list.length = keep;
    buf.received++;
  });
  useTicker(200);

  const shown = paused ? (frozen.current ?? []) : buf.list;
  const togglePause = () => {
    if (!paused) {
      frozen.current = [...buf.list];
      setReceivedAtPause(buf.received);
    } else frozen.current = undefined;
    setPaused(!paused);
  };

  return (
    <div class="page events">
      <div class="page-head">
        <h1>Live events</h1>
        <div class="muted">
          <span class={connected ? 'ok-text' : 'off-text'}>{connected ? 'streaming' : 'connecting…'}</span> · {formatCount(buf.received)} received
          {buf.dropped > 0 && ` · ${formatCount(buf.dropped)} dropped by the server (too fast for this page)`}
        </div>
      </div>
      <div class="toolbar">
        <button type="button" class={paused ? 'primary' : ''} onClick={togglePause} data-testid="pause">
          {paused ? `Resume (${formatCount(buf.received - receivedAtPause)} new)` : 'Pause'}
        </button>
        <button
          type="button"
          onClick={() => {
            buf.list = [];
            frozen.current = paused ? [] : undefined;
          }}
        >
          Clear
        </button>
        <form
          class="filter"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(exclude.split(',').map((s) => s.trim()).filter(Boolean).join(','));
          }}
        >
          <input placeholder="hide types, e.g. Pulse,Client" value={exclude} size={28} onInput={(e) => setExclude((e.target as HTMLInputElement).value)} />
          <button type="submit">Apply</button>
        </form>
      </div>
      <div class="scroll-x panel-flat">
        <table class="grid stream" data-testid="event-stream">
          <thead>
            <tr>
              <th>time</th>
              <th class="num">position</th>
              <th>type</th>
              <th>change</th>
              <th>id</th>
              <th>from</th>
              <th>item</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => {
              const key = `${e.position}:${e.itemType}:${e.id}:${e.tx}`;
              return (
                <Fragment key={key}>
                  <tr class={`ev ${e.changeType}`} onClick={() => setOpen(open === key ? undefined : key)} data-type={e.itemType}>
                    <td title={timeTitle(e.createdAt)}>{formatTime(e.createdAt, { ms: true })}</td>
                    <td class="num">{e.position === 0 ? <span class="muted" title="not written to the log">—</span> : e.position}</td>
                    <td>{e.itemType}</td>
                    <td>
                      <span class={`ct ${e.changeType}`}>{e.changeType}</span>
                    </td>
                    <td title={e.id}>{short(e.id, 36)}</td>
                    <td class="muted" title={e.clientId ?? e.sourceId}>
                      {(e.clientId ?? e.sourceId).slice(0, 8)}
                    </td>
                    <td class="mono">{e.itemOmitted ? <span class="muted">(large item left out)</span> : short(e.item, 90)}</td>
                  </tr>
                  {open === key && (
                    <tr class="expanded">
                      <td colSpan={7}>
                        <Json value={e} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </div>
      {shown.length === 0 && <div class="empty small">waiting for events…</div>}
    </div>
  );
}
