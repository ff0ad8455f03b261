/**
 * Shared by the fault tests (fuzzing, kill -9, disk full, many connections):
 * the short/soak switch, `myko verify` as a process, reading the log straight
 * from SQLite, the server's log lines, and its resident memory.
 *
 * `npm test` runs the short form; `npm run soak` sets MYKO_SOAK=1 and every
 * fault test scales up (more cases, rounds, connections).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { exited } from '../testing/index.js';

export const soak = /^(1|true|yes|on)$/i.test(process.env.MYKO_SOAK ?? '');

/** The short figure under `npm test`, the long one under `npm run soak`. */
export const scale = (short: number, long: number): number => (soak ? long : short);

export const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url));

/** `myko verify --data-dir D` as its own process (the server must be stopped). */
export function mykoVerify(dataDir: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [cliPath, 'verify', '--data-dir', dataDir], {
    encoding: 'utf8',
    env: { ...process.env, MYKO_LOG_LEVEL: 'silent' },
    timeout: 120_000,
  });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

export type LogRow = { id: number; item_type: string; item_id: string; change_type: string; tx: string; event: string };

/** Rows of myko_events in log order, optionally of one item type (the server must be stopped). */
export function readLog(dataDir: string, itemType?: string): LogRow[] {
  const db = new Database(join(dataDir, 'myko.db'));
  try {
    const sql = `SELECT id, item_type, item_id, change_type, tx, event FROM myko_events ${itemType ? 'WHERE item_type = ?' : ''} ORDER BY id`;
    return (itemType ? db.prepare(sql).all(itemType) : db.prepare(sql).all()) as LogRow[];
  } finally {
    db.close();
  }
}

/** Current items of one type as the log describes them (SET replaces, DEL removes), by id. */
export function replayType(rows: LogRow[]): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    if (r.change_type === 'DEL') out.delete(r.item_id);
    else out.set(r.item_id, (JSON.parse(r.event) as { item: Record<string, unknown> }).item);
  }
  return out;
}

/** Resident set size of a process, in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Every JSON line the server child prints from now on (pino: level 40 warn, 50 error, 60 fatal). */
export function collectLog(proc: ChildProcess): { lines: Record<string, any>[]; text: () => string } {
  const lines: Record<string, any>[] = [];
  let rest = '';
  const raw: string[] = [];
  const onData = (d: Buffer) => {
    const s = rest + d.toString();
    const parts = s.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) {
      if (p.trim() === '') continue;
      try {
        lines.push(JSON.parse(p) as Record<string, any>);
      } catch {
        raw.push(p);
        lines.push({ level: 60, msg: `unparsed output: ${p.slice(0, 500)}` });
      }
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', (d: Buffer) => {
    raw.push(d.toString());
    lines.push({ level: 60, msg: `stderr: ${d.toString().slice(0, 2000)}` });
  });
  return { lines, text: () => raw.join('\n') };
}

/** SIGTERM, then the exit code (SIGKILL after `ms`, which fails the caller's `exit 0` check). */
export async function stopServer(proc: ChildProcess, ms = 20_000): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  try {
    return await exited(proc);
  } finally {
    clearTimeout(t);
  }
}

/** A process is alive while it has neither an exit code nor a terminating signal. */
export const alive = (proc: ChildProcess): boolean => proc.exitCode === null && proc.signalCode === null;

/** Date and machine, for the figures the tests print. */
export function machine(): string {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0;
  return `${cpu}, ${cores} cores, Node ${process.version}, ${new Date().toISOString()}`;
}
