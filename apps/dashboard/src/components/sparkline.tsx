import { formatNumber } from '../format.js';

/**
 * A small line chart of recent values, drawn as SVG. Several series (the
 * numeric fields of a pulse) are each scaled to their own range, so a
 * total and a count can share a chart; the legend gives each one's latest
 * value. The chart shrinks with its card (at most `width` wide) and the
 * legend's labels are cut with an ellipsis rather than pushed out of it.
 */
export interface Series {
  name: string;
  values: readonly number[];
}

const palette = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8'];

export function Sparkline({ series, width = 220, height = 48, label }: { series: readonly Series[]; width?: number; height?: number; label?: string }) {
  const pad = 3;
  const path = (vals: readonly number[]) => {
    let min = Math.min(...vals);
    let max = Math.max(...vals);
    if (min === max) {
      min -= 1;
      max += 1;
    }
    const n = vals.length;
    return vals
      .map((v, i) => {
        const x = n === 1 ? width - pad : pad + (i * (width - 2 * pad)) / (n - 1);
        const y = pad + (1 - (v - min) / (max - min)) * (height - 2 * pad);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  };
  const shown = series.filter((s) => s.values.length > 0);
  const single = shown.length === 1 ? shown[0]!.values : undefined;
  return (
    <div class="spark-wrap">
      <svg class="spark" style={{ maxWidth: `${width}px` }} height={height} viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label={label ?? 'chart'}>
        {shown.map((s, i) =>
          s.values.length === 1 ? (
            <circle key={s.name} cx={width - pad} cy={height / 2} r="2" fill={palette[i % palette.length]} />
          ) : (
            <polyline key={s.name} points={path(s.values)} fill="none" stroke={palette[i % palette.length]} stroke-width="1.5" stroke-linejoin="round" vector-effect="non-scaling-stroke" />
          ),
        )}
      </svg>
      <div class="spark-legend">
        {single ? (
          <>
            <span class="muted">{fmt(Math.max(...single))}</span>
            <span class="muted">{fmt(Math.min(...single))}</span>
          </>
        ) : (
          shown.map((s, i) => (
            <span key={s.name} style={{ color: palette[i % palette.length] }} title={`${s.name}: ${String(s.values.at(-1))}`}>
              {s.name} {fmt(s.values.at(-1)!)}
            </span>
          ))
        )}
      </div>
    </div>
  );
}

const fmt = (n: number) => formatNumber(n, { compact: true });
