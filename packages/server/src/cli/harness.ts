/**
 * Test support for the `myko` command as a user runs it: a child process with
 * a clean environment, its exit code and output; a server it starts; the
 * rows it left in a data directory.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const cliPath = fileURLToPath(new URL('../cli.js', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The test's environment without any MYKO_* setting, so only what a test sets counts. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MYKO_')) env[k] = v;
  return { ...env, ...extra };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `myko ARGS` to completion. */
export function run(args: string[], env: Record<string, string> = {}, opts: { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [cliPath, ...args], { cwd: opts.cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`myko ${args.join(' ')} did not exit: ${stdout} ${stderr}`));
    }, 30_000);
    proc.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Spawn `command` (the CLI by default, with `args`) and resolve once the log
 * says it listens, with the port it announced and everything it wrote so far
 * (`output()` keeps growing).
 */
export function startServing(
  command: string,
  args: string[],
  env: Record<string, string>,
  opts: SpawnOptions = {},
): Promise<{ proc: ChildProcess; port: number; host: string; output(): string }> {
  const proc = spawn(command, args, { ...opts, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start: ${out}`));
    }, 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"ws:\/\/([^:"]+):(\d+)\/myko"/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ proc, host: m[1]!, port: Number(m[2]), output: () => out });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited with ${code}: ${out}`));
    });
  });
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function countRows(dataDir: string, itemType: string): number {
  const db = new Database(join(dataDir, 'myko.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM myko_events WHERE item_type = ?`).get(itemType) as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Poll `done` every 50 ms until it holds; fail with `what` after `ms`. */
export async function until(done: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !(await done()); await new Promise((r) => setTimeout(r, 50)))
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
}
