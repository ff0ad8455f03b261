import { useEffect, useState } from 'preact/hooks';
import { windbackStatus } from '@myko/client';
import { client, getJson, useReport } from '../live.js';
import './windback-bar.css';

/**
 * The Data page's time slider (windback): this dashboard's own connection is
 * wound back with `SetClientWindbackTime`, so its live queries answer with
 * the state at that time, and `ClearClientWindbackTime` (Live) brings it
 * back. Other clients are not affected. The range runs from the log's first
 * event to now (`/api/log-span`), fetched again when the slider is touched.
 */
interface Span {
  first: string | null;
  now: string;
}

const windbackSpec = windbackStatus();

export function useWindback(): string | null {
  return useReport(windbackSpec).value?.windback ?? null;
}

export function WindbackBar() {
  const windback = useWindback();
  const [span, setSpan] = useState<Span | undefined>();
  const [pending, setPending] = useState<number | undefined>();
  const [error, setError] = useState<string | undefined>();
  const refresh = () => getJson<Span>('/api/log-span').then(setSpan, (err: Error) => setError(err.message));
  useEffect(() => {
    void refresh();
  }, []);
  const min = span?.first ? Date.parse(span.first) : Date.now();
  // While live, the end of the range moves with the clock; while wound back it stays where it was fetched.
  const max = Math.max(min, span ? Date.parse(span.now) : Date.now());
  const at = pending ?? (windback ? Date.parse(windback) : max);
  const run = (p: Promise<unknown>) => p.then(() => setError(undefined), (err: Error) => setError(err.message)).finally(() => setPending(undefined));
  const windTo = (ms: number) => {
    setPending(ms);
    void run(client.sendCommand('SetClientWindbackTime', { windback: new Date(ms).toISOString() }));
  };
  return (
    <div class={`windback ${windback ? 'wound-back' : ''}`} data-testid="windback">
      <span class="muted small">Time</span>
      <input
        type="range"
        data-testid="windback-slider"
        min={String(min)}
        max={String(max)}
        step="1"
        value={String(at)}
        disabled={!span?.first}
        onPointerDown={() => !windback && void refresh()}
        onInput={(e) => setPending(Number((e.target as HTMLInputElement).value))}
        onChange={(e) => windTo(Number((e.target as HTMLInputElement).value))}
      />
      <span data-testid="windback-time" class={windback ? 'warn-text' : 'ok-text'}>
        {windback ? `${new Date(windback).toLocaleString()} (read-only)` : pending !== undefined ? new Date(pending).toLocaleString() : 'Live'}
      </span>
      <button type="button" data-testid="windback-live" disabled={!windback} onClick={() => void run(client.sendCommand('ClearClientWindbackTime', {}))}>
        Live
      </button>
      {error && <span class="error small">{error}</span>}
    </div>
  );
}
