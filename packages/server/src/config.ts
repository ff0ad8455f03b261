/**
 * Every limit and default of the server, in one object. Environment variables
 * and CLI flags share names (`MYKO_PORT` ↔ `--port`); flags win. Contradictory
 * settings are rejected at start, never discovered under load.
 */
export interface ServerConfig {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  host: string;
  /** Directory of the embedded SQLite store. */
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Frames above this many bytes are refused with MYKO_FRAME_TOO_LARGE; the connection stays up. */
  maxFrameBytes: number;
  /**
   * Frames above this are not even buffered: the socket is closed with 1009.
   * It bounds the memory one frame can take before we can refuse it.
   */
  hardMaxFrameBytes: number;
  /** SQLite `synchronous`: `full` survives power loss, `normal` survives a process crash (kill -9). */
  sqliteSync: 'full' | 'normal';
  /**
   * `on`: once booted, the embedded store runs its SQLite connection on a thread of its own
   * (store/sqlite/thread.ts), so commits and checkpoints use the second core; `off`: on the event loop.
   */
  sqliteThread: 'on' | 'off';
  /** Most events written in one transaction (group commit). */
  maxBatchEvents: number;
  /**
   * Save a checkpoint (core/checkpointer.ts) once this many items changed since the last one...
   * Fewer checkpoints cost less write throughput; boot then replays more of the log.
   */
  checkpointEvery: number;
  /** ...or this long after the first unsaved change. */
  checkpointIntervalMs: number;
  /** Outgoing bytes queued on a socket above which diffs are held back and coalesced. */
  sendHighWaterBytes: number;
  /** Outgoing bytes queued above which the connection is closed (MYKO_SLOW_CONSUMER). */
  sendMaxBufferedBytes: number;
  /** A connection held back (above the high-water mark) this long is closed (MYKO_SLOW_CONSUMER). */
  slowConsumerTimeoutMs: number;
  /** Default timeout of a command the server sends to a client. */
  clientCommandTimeoutMs: number;
  /**
   * Plugin modules the CLI loads, comma-separated (package names or paths
   * relative to the working directory). Code that embeds MykoServer passes
   * plugin objects instead and this is ignored.
   */
  plugins: string;
  /**
   * The MCP endpoint for AI agents at /mcp (mcp/): `full` (every tool),
   * `read-only` (queries, reports and history: no command or action), or
   * `off` (not served).
   */
  mcp: 'off' | 'read-only' | 'full';
  /** Verify the whole log (`myko verify`) before serving; refuse to start on a mismatch. */
  verifyOnBoot: boolean;
  /** Cluster mode when set: the log lives in this PostgreSQL database, shared by every member. */
  postgresUrl: string;
  /** Schema of the cluster tables. */
  postgresSchema: string;
  /** This member's id in cluster mode; empty = a fresh id per process. */
  serverId: string;
  /** HS256 shared secret: authentication on when set (or authJwksUrl). */
  authJwtSecret: string;
  /** JWKS URL for RS256/ES256 tokens. */
  authJwksUrl: string;
  /** Required `iss`, when set. */
  authIssuer: string;
  /** Required `aud`, when set. */
  authAudience: string;
  /** With authentication on, accept connections without a token (they may run public commands and `userToken` commands). */
  authAnonymous: boolean;
  /** JSON permission rules (security/permissions.ts). */
  permissionsFile: string;
  /** Connections held at once; more are refused at the handshake (503). */
  maxConnections: number;
  /** Frames per second per connection (token bucket rate)... */
  maxMessagesPerSecond: number;
  /** ...and the burst it allows. */
  maxMessagesBurst: number;
  /** Events per second per connection (token bucket rate)... */
  maxEventsPerSecond: number;
  /** ...and the burst it allows. */
  maxEventsBurst: number;
  /** Live queries plus live reports per connection. */
  maxLiveQueriesPerConnection: number;
  /** Limit violations within 10 s after which the connection is closed (1008). */
  maxViolations: number;
  /** Every WebSocket connection is pinged this often; 0 turns the heartbeat off (gateway/heartbeat.ts). */
  heartbeatIntervalMs: number;
  /**
   * A connection that has sent nothing (no pong, no frame) for this long is
   * terminated, as if it had closed: a dead one goes at most
   * heartbeatTimeoutMs + heartbeatIntervalMs after its last word.
   */
  heartbeatTimeoutMs: number;
  /**
   * A write refused because a connection of this server owns the item: that
   * owner is pinged and given this long to answer; if it does not, it is
   * retired and the write applied (gateway/owner-challenge.ts). 0: refuse at once.
   */
  ownerChallengeMs: number;
}

export const defaultConfig: Readonly<ServerConfig> = Object.freeze({
  port: 5155,
  host: '0.0.0.0',
  dataDir: './data',
  logLevel: 'info',
  maxFrameBytes: 1024 * 1024,
  hardMaxFrameBytes: 16 * 1024 * 1024,
  sqliteSync: 'full',
  sqliteThread: 'on',
  maxBatchEvents: 10_000,
  checkpointEvery: 10_000,
  checkpointIntervalMs: 5_000,
  sendHighWaterBytes: 1024 * 1024,
  sendMaxBufferedBytes: 32 * 1024 * 1024,
  slowConsumerTimeoutMs: 30_000,
  clientCommandTimeoutMs: 10_000,
  plugins: '@myko/rship/server',
  mcp: 'full',
  verifyOnBoot: false,
  postgresUrl: '',
  postgresSchema: 'public',
  serverId: '',
  authJwtSecret: '',
  authJwksUrl: '',
  authIssuer: '',
  authAudience: '',
  authAnonymous: false,
  permissionsFile: '',
  maxConnections: 10_000,
  maxMessagesPerSecond: 5_000,
  maxMessagesBurst: 10_000,
  maxEventsPerSecond: 100_000,
  maxEventsBurst: 200_000,
  maxLiveQueriesPerConnection: 1_000,
  maxViolations: 50,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 20_000,
  ownerChallengeMs: 2_000,
});

/** Environment variable → config key (flags use the kebab-case key: `--max-frame-bytes`). */
export const envNames: Record<string, keyof ServerConfig> = {
  MYKO_PORT: 'port',
  MYKO_HOST: 'host',
  MYKO_DATA_DIR: 'dataDir',
  MYKO_LOG_LEVEL: 'logLevel',
  MYKO_MAX_FRAME_BYTES: 'maxFrameBytes',
  MYKO_HARD_MAX_FRAME_BYTES: 'hardMaxFrameBytes',
  MYKO_SQLITE_SYNC: 'sqliteSync',
  MYKO_SQLITE_THREAD: 'sqliteThread',
  MYKO_CHECKPOINT_EVERY: 'checkpointEvery',
  MYKO_CHECKPOINT_INTERVAL_MS: 'checkpointIntervalMs',
  MYKO_SEND_HIGH_WATER_BYTES: 'sendHighWaterBytes',
  MYKO_SEND_MAX_BUFFERED_BYTES: 'sendMaxBufferedBytes',
  MYKO_SLOW_CONSUMER_TIMEOUT_MS: 'slowConsumerTimeoutMs',
  MYKO_PLUGINS: 'plugins',
  MYKO_MCP: 'mcp',
  MYKO_VERIFY_ON_BOOT: 'verifyOnBoot',
  MYKO_POSTGRES_URL: 'postgresUrl',
  MYKO_POSTGRES_SCHEMA: 'postgresSchema',
  MYKO_SERVER_ID: 'serverId',
  MYKO_AUTH_JWT_SECRET: 'authJwtSecret',
  MYKO_AUTH_JWKS_URL: 'authJwksUrl',
  MYKO_AUTH_ISSUER: 'authIssuer',
  MYKO_AUTH_AUDIENCE: 'authAudience',
  MYKO_AUTH_ANONYMOUS: 'authAnonymous',
  MYKO_PERMISSIONS_FILE: 'permissionsFile',
  MYKO_MAX_CONNECTIONS: 'maxConnections',
  MYKO_MAX_MESSAGES_PER_SECOND: 'maxMessagesPerSecond',
  MYKO_MAX_EVENTS_PER_SECOND: 'maxEventsPerSecond',
  MYKO_MAX_LIVE_QUERIES: 'maxLiveQueriesPerConnection',
  MYKO_HEARTBEAT_INTERVAL_MS: 'heartbeatIntervalMs',
  MYKO_HEARTBEAT_TIMEOUT_MS: 'heartbeatTimeoutMs',
  MYKO_OWNER_CHALLENGE_MS: 'ownerChallengeMs',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const logLevels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Merge and check: defaults ← env ← explicit values (flags or code). */
export function resolveConfig(
  explicit: Partial<Record<keyof ServerConfig, unknown>> = {},
  env: NodeJS.ProcessEnv = {},
): ServerConfig {
  const raw: Record<string, unknown> = { ...defaultConfig };
  for (const [name, key] of Object.entries(envNames)) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  for (const [key, v] of Object.entries(explicit)) if (v !== undefined) raw[key] = v;

  const out = { ...defaultConfig } as ServerConfig;
  for (const key of Object.keys(defaultConfig) as (keyof ServerConfig)[]) {
    const dflt = defaultConfig[key];
    const v = raw[key];
    if (typeof dflt === 'boolean') {
      const b = typeof v === 'boolean' ? v : /^(1|true|yes|on)$/i.test(String(v)) ? true : /^(0|false|no|off|)$/i.test(String(v)) ? false : undefined;
      if (b === undefined) throw new ConfigError(`${key} must be true or false, got ${String(v)}`);
      (out as unknown as Record<string, unknown>)[key] = b;
    } else if (typeof dflt === 'number') {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${key} must be a non-negative integer, got ${String(v)}`);
      (out as unknown as Record<string, unknown>)[key] = n;
    } else {
      (out as unknown as Record<string, unknown>)[key] = String(v);
    }
  }
  if (out.port > 65535) throw new ConfigError(`port must be at most 65535, got ${out.port}`);
  if (!logLevels.has(out.logLevel)) throw new ConfigError(`logLevel must be one of ${[...logLevels].join(', ')}`);
  if (out.sqliteSync !== 'full' && out.sqliteSync !== 'normal') throw new ConfigError(`sqliteSync must be full or normal`);
  if (out.sqliteThread !== 'on' && out.sqliteThread !== 'off') throw new ConfigError(`sqliteThread must be on or off`);
  if (out.maxFrameBytes < 1024) throw new ConfigError('maxFrameBytes must be at least 1024');
  if (out.hardMaxFrameBytes < out.maxFrameBytes)
    throw new ConfigError(`maxFrameBytes (${out.maxFrameBytes}) must not be above hardMaxFrameBytes (${out.hardMaxFrameBytes})`);
  if (out.sendMaxBufferedBytes <= out.sendHighWaterBytes)
    throw new ConfigError('sendMaxBufferedBytes must be above sendHighWaterBytes');
  if (out.mcp !== 'off' && out.mcp !== 'read-only' && out.mcp !== 'full') throw new ConfigError(`mcp must be off, read-only or full, got ${out.mcp}`);
  if (out.maxBatchEvents < 1) throw new ConfigError('maxBatchEvents must be at least 1');
  if (out.checkpointEvery < 1) throw new ConfigError('checkpointEvery must be at least 1');
  if (out.checkpointIntervalMs < 1) throw new ConfigError('checkpointIntervalMs must be at least 1');
  if (out.postgresUrl && !/^postgres(ql)?:\/\//.test(out.postgresUrl)) throw new ConfigError('postgresUrl must be a postgres:// URL');
  if (out.authJwtSecret && out.authJwksUrl) throw new ConfigError('set authJwtSecret or authJwksUrl, not both');
  if (out.authJwtSecret && out.authJwtSecret.length < 32) throw new ConfigError('authJwtSecret must be at least 32 characters (HS256 needs a 256-bit key)');
  if (out.authAnonymous && !out.authJwtSecret && !out.authJwksUrl) throw new ConfigError('authAnonymous needs authentication to be on (authJwtSecret or authJwksUrl)');
  if (out.maxMessagesBurst < out.maxMessagesPerSecond / 10 || out.maxEventsBurst < 1) throw new ConfigError('burst limits are too small for their rates');
  if (out.heartbeatIntervalMs > 0 && out.heartbeatTimeoutMs <= out.heartbeatIntervalMs)
    throw new ConfigError(
      `heartbeatTimeoutMs (${out.heartbeatTimeoutMs}) must be above heartbeatIntervalMs (${out.heartbeatIntervalMs}): a live connection answers only once per interval`,
    );
  if (out.heartbeatIntervalMs > 0 && out.ownerChallengeMs >= out.heartbeatTimeoutMs)
    throw new ConfigError(`ownerChallengeMs (${out.ownerChallengeMs}) must be below heartbeatTimeoutMs (${out.heartbeatTimeoutMs}): the challenge is the quick check, the heartbeat the slow one`);
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(out.postgresSchema)) throw new ConfigError('postgresSchema must be a plain identifier (letters, digits, _)');
  return out;
}
