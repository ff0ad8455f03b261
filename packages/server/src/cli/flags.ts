/**
 * The command line's flags: one per environment variable of config.ts
 * (`MYKO_MAX_FRAME_BYTES` ↔ `--max-frame-bytes`), plus each command's own.
 * Config errors are reworded here in flag terms, and a mistyped flag gets the
 * nearest real one suggested.
 */
import { defaultConfig, envNames, type ServerConfig } from '../config.js';

export interface FlagSpec {
  /** Without the leading `--`. */
  flag: string;
  type: 'string' | 'boolean';
  /** The value's placeholder in help: N, DIR, URL... */
  arg?: string;
  help: string;
  /** The server setting it fills, with its environment variable. */
  key?: keyof ServerConfig;
  env?: string;
  /** Shown as the default; false for secrets and empty values. */
  showDefault?: boolean;
}

/** What each setting does, in one line; the default and environment variable are added by `flagHelp`. */
const describe: Partial<Record<keyof ServerConfig, [arg: string | undefined, help: string]>> = {
  port: ['N', 'TCP port; 0 picks a free one'],
  host: ['H', 'address to listen on'],
  dataDir: ['DIR', 'directory of the embedded SQLite store (myko.db)'],
  logLevel: ['L', 'fatal|error|warn|info|debug|trace|silent; debug logs each frame and each commit'],
  maxFrameBytes: ['N', 'larger frames are refused with MYKO_FRAME_TOO_LARGE (connection stays up)'],
  hardMaxFrameBytes: ['N', 'larger frames are not even buffered: the socket is closed with 1009'],
  sqliteSync: ['S', 'full (survives power loss) | normal (survives kill -9)'],
  sqliteThread: ['on|off', 'run the SQLite connection on its own thread once booted (commits and checkpoints off the event loop)'],
  checkpointEvery: ['N', 'save a checkpoint of state once N items changed; larger: less write work, a longer replay at boot'],
  checkpointIntervalMs: ['MS', 'or MS after the first change not yet saved'],
  sendHighWaterBytes: ['N', 'bytes queued on a socket above which diffs are held back and coalesced'],
  sendMaxBufferedBytes: ['N', 'bytes queued above which the connection is closed (MYKO_SLOW_CONSUMER)'],
  slowConsumerTimeoutMs: ['MS', 'a connection held back this long is closed (MYKO_SLOW_CONSUMER)'],
  plugins: ['LIST', "plugin modules to load, comma-separated; '' for none"],
  verifyOnBoot: [undefined, 'verify the log before serving; refuse to start on a mismatch (result in /health)'],
  postgresUrl: ['URL', 'cluster mode: the log lives in this PostgreSQL database, shared by every member'],
  postgresSchema: ['S', 'schema of the cluster tables'],
  serverId: ['ID', "this member's id (default: a fresh one per process)"],
  authJwtSecret: ['SECRET', 'authentication on: HS256 shared secret, at least 32 characters (prefer the variable: flags show in ps)'],
  authJwksUrl: ['URL', 'authentication on: JWKS URL for RS256/ES256 tokens'],
  authIssuer: ['ISS', 'required `iss` of tokens'],
  authAudience: ['AUD', 'required `aud` of tokens'],
  authAnonymous: [undefined, 'with authentication on, also accept connections without a token'],
  permissionsFile: ['FILE', 'JSON permission rules: who may write, delete and run what (README, Security and limits)'],
  maxConnections: ['N', 'connections held at once; more are refused at the handshake (503)'],
  maxMessagesPerSecond: ['N', 'frames per second per connection'],
  maxEventsPerSecond: ['N', 'events per second per connection'],
  maxLiveQueriesPerConnection: ['N', 'live queries plus live reports per connection'],
  mcp: ['MODE', 'the MCP endpoint at /mcp for AI agents: off | read-only (queries, views, reports, history) | full'],
  heartbeatIntervalMs: ['MS', 'ping every WebSocket connection this often; 0 = off'],
  heartbeatTimeoutMs: ['MS', 'close a connection silent this long (no pong, no frame)'],
  ownerChallengeMs: ['MS', "a write refused for a live owner's items: ping the owner, retire it if it does not answer within MS, then apply the write; 0 = refuse at once"],
};

const secret = new Set<keyof ServerConfig>(['authJwtSecret']);

/** `MYKO_MAX_FRAME_BYTES` → `max-frame-bytes`. */
const flagOfEnv = (env: string) => env.slice('MYKO_'.length).toLowerCase().replaceAll('_', '-');

/** Every server setting as a flag, in config.ts's order of environment variables. */
export const settingFlags: FlagSpec[] = Object.entries(envNames).map(([env, key]) => {
  const [arg, help] = describe[key] ?? ['V', key];
  const type = typeof defaultConfig[key] === 'boolean' ? 'boolean' : 'string';
  const dflt = defaultConfig[key];
  return { flag: flagOfEnv(env), type, ...(arg ? { arg } : {}), help, key, env, showDefault: !secret.has(key) && type !== 'boolean' && dflt !== '' };
});

const byKey = new Map(settingFlags.map((f) => [f.key!, f]));

/** The settings a log command (verify, history, export, import) uses: where the log is. */
export const storeFlags: FlagSpec[] = (['dataDir', 'sqliteSync', 'postgresUrl', 'postgresSchema'] as const).map((k) => byKey.get(k)!);

export const helpFlag: FlagSpec = { flag: 'help', type: 'boolean', help: "this command's usage" };

/** `--max-frame-bytes N   MYKO_MAX_FRAME_BYTES   ... (default 1048576)`, aligned. */
export function flagHelp(flags: FlagSpec[]): string {
  const left = flags.map((f) => `  --${f.flag}${f.arg ? ` ${f.arg}` : ''}`);
  const mid = flags.map((f) => f.env ?? '');
  const lw = Math.max(...left.map((s) => s.length)) + 2;
  const mw = Math.max(...mid.map((s) => s.length)) + 2;
  return flags
    .map((f, i) => {
      const dflt = f.key && f.showDefault ? ` (default ${String(defaultConfig[f.key])})` : '';
      return `${left[i]!.padEnd(lw)}${mid[i]!.padEnd(mw)}${f.help}${dflt}`.trimEnd();
    })
    .join('\n');
}

/** The flag and variable a setting is given by: `--max-frame-bytes / MYKO_MAX_FRAME_BYTES`. */
function flagTerm(key: keyof ServerConfig): string | undefined {
  const f = byKey.get(key);
  return f ? `--${f.flag} / ${f.env}` : undefined;
}

/**
 * A config error as the command line's user reads it: setting names
 * (`maxFrameBytes`) become the flags that set them (`--max-frame-bytes /
 * MYKO_MAX_FRAME_BYTES`); config.ts speaks to embedders, who use the names.
 */
export function inFlagTerms(message: string): string {
  return message.replace(/\b[a-z][A-Za-z]+\b/g, (word) => (word in defaultConfig ? (flagTerm(word as keyof ServerConfig) ?? word) : word));
}

/** Edit distance, for suggestions. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The candidate nearest to `typed`, when near enough to be what was meant. */
export function nearest(typed: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(typed) || typed.startsWith(c) ? Math.abs(c.length - typed.length) * 0.5 : distance(typed, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined;
}
