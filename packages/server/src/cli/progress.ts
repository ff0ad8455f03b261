/**
 * Whether to draw progress: on a terminal by default, so logs and pipes stay
 * clean; MYKO_PROGRESS=1 forces it on (e.g. to watch a long import through
 * `tee` or in CI), MYKO_PROGRESS=0 off.
 */
export function progressEnabled(env: NodeJS.ProcessEnv = process.env, tty = process.stderr.isTTY === true): boolean {
  if (env.MYKO_PROGRESS === '1') return true;
  if (env.MYKO_PROGRESS === '0') return false;
  return tty;
}

const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

/**
 * A one-line progress bar on stderr. `unit: 'bytes'` shows MiB (an import
 * counts the bytes of its file, the only total known before reading it).
 * Redrawn at most every 100 ms, and always at the end.
 */
export function progressBar(label: string, opts: { unit?: 'count' | 'bytes' } = {}): { update(done: number, total: number): void; end(): void } {
  const on = progressEnabled();
  const fmt = opts.unit === 'bytes' ? (d: number, t: number) => `${mib(d)}/${mib(t)} MiB` : (d: number, t: number) => `${d}/${t}`;
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      if (!on) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      drawn = true;
      const width = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      process.stderr.write(`\r${label} [${bar}] ${fmt(done, total)} (${Math.round(frac * 100)}%)`);
    },
    end() {
      if (on && drawn) process.stderr.write('\n');
    },
  };
}
