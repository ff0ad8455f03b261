#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { MykoServer } from './server.js';
import { ConfigError, defaultConfig, resolveConfig, type ServerConfig } from './config.js';
import { openStore, runExport, runHistory, runImport, runVerify } from './cli/log-commands.js';
import { loadPlugins } from './cli/plugins.js';
import { runMcpCommand } from './cli/mcp-command.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const help = `myko ${version}: a real-time, event-sourced state server

Usage:
  myko serve [options]            serve ws://HOST:PORT/myko on the embedded store
  myko verify [--data-dir D]      recompute every event id and link; exit 1 at the first mismatch
  myko history ITEMTYPE ID [--json]   an item's events, oldest first
  myko export [--out FILE]        the log as NDJSON (stdout by default)
  myko import --in FILE           NDJSON into an empty store, then verify (all or nothing)
  myko --help | --version

verify, history, export and import open the data directory themselves: stop the server first
(or start it with --verify-on-boot). With --postgres-url they read the cluster's log, members running.
import is all or nothing: a failed one leaves the store empty. Progress bars go to stderr on a
terminal; MYKO_PROGRESS=1 forces them, MYKO_PROGRESS=0 turns them off.

Options (each also read from the environment variable shown; flags win):
  --port N                 MYKO_PORT          (default ${defaultConfig.port})
  --host H                 MYKO_HOST          (default ${defaultConfig.host})
  --data-dir D             MYKO_DATA_DIR      (default ${defaultConfig.dataDir})
  --log-level L            MYKO_LOG_LEVEL     fatal|error|warn|info|debug|trace|silent (default ${defaultConfig.logLevel})
  --max-frame-bytes N      MYKO_MAX_FRAME_BYTES  larger frames get MYKO_FRAME_TOO_LARGE (default ${defaultConfig.maxFrameBytes})
  --sqlite-sync S          MYKO_SQLITE_SYNC   full (survives power loss) | normal (survives kill -9) (default ${defaultConfig.sqliteSync})
  --postgres-url URL       MYKO_POSTGRES_URL  cluster mode: the log lives in this PostgreSQL database, shared by every member
  --postgres-schema S      MYKO_POSTGRES_SCHEMA  schema of the cluster tables (default ${defaultConfig.postgresSchema})
  --server-id ID           MYKO_SERVER_ID     this member's id (default: a fresh one per process)
  --verify-on-boot         MYKO_VERIFY_ON_BOOT  verify the log before serving; refuse to start on a mismatch
  --heartbeat-interval-ms N   MYKO_HEARTBEAT_INTERVAL_MS  ping every connection this often; 0 = off (default ${defaultConfig.heartbeatIntervalMs})
  --heartbeat-timeout-ms N    MYKO_HEARTBEAT_TIMEOUT_MS   close a connection silent this long (no pong, no frame) (default ${defaultConfig.heartbeatTimeoutMs})
  --owner-challenge-ms N      MYKO_OWNER_CHALLENGE_MS     a write refused for a live owner on this server: ping the owner, retire it if
                                                          it does not answer within N ms, then apply the write; 0 = refuse at once (default ${defaultConfig.ownerChallengeMs})
  --plugins LIST           MYKO_PLUGINS       plugin modules to load, comma-separated; '' for none (default ${defaultConfig.plugins})

Endpoints: ws://HOST:PORT/myko (add ?dialect=seed|current to fix the dialect), /models, /eventrpc; http://HOST:PORT/ (dashboard), /health/live, /health/ready (/health = ready), /metrics
`;

const flagToKey: Record<string, keyof ServerConfig> = {
  port: 'port',
  host: 'host',
  'data-dir': 'dataDir',
  'log-level': 'logLevel',
  'max-frame-bytes': 'maxFrameBytes',
  'sqlite-sync': 'sqliteSync',
  plugins: 'plugins',
  'postgres-url': 'postgresUrl',
  'postgres-schema': 'postgresSchema',
  'server-id': 'serverId',
  mcp: 'mcp',
  'heartbeat-interval-ms': 'heartbeatIntervalMs',
  'heartbeat-timeout-ms': 'heartbeatTimeoutMs',
  'owner-challenge-ms': 'ownerChallengeMs',
};
const booleanFlags: Record<string, keyof ServerConfig> = { 'verify-on-boot': 'verifyOnBoot' };

async function runLogCommand(cmd: string, args: string[], values: Record<string, unknown>, explicit: Partial<Record<keyof ServerConfig, string>>): Promise<number> {
  if (!['verify', 'history', 'export', 'import'].includes(cmd)) {
    process.stderr.write(`myko: unknown command ${cmd}\n\n${help}`);
    return 2;
  }
  if (cmd === 'history' && args.length !== 2) {
    process.stderr.write('myko: usage: myko history ITEMTYPE ID [--json]\n');
    return 2;
  }
  if (cmd === 'import' && typeof values.in !== 'string') {
    process.stderr.write('myko: usage: myko import --in FILE\n');
    return 2;
  }
  let store;
  try {
    store = await openStore(resolveConfig(explicit, process.env));
  } catch (err) {
    process.stderr.write(`myko: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    if (cmd === 'verify') return await runVerify(store, process.stdout);
    if (cmd === 'history') return await runHistory(store, args[0]!, args[1]!, values.json === true, process.stdout);
    if (cmd === 'export') return await runExport(store, values.out as string | undefined, process.stdout);
    return await runImport(store, values.in as string, process.stdout);
  } catch (err) {
    process.stderr.write(`myko ${cmd}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'mcp') return runMcpCommand(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        ...Object.fromEntries(Object.keys(flagToKey).map((f) => [f, { type: 'string' as const }])),
        ...Object.fromEntries(Object.keys(booleanFlags).map((f) => [f, { type: 'boolean' as const }])),
        out: { type: 'string' },
        in: { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`myko: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) return void process.stdout.write(help), 0;
  if (values.version) return void process.stdout.write(version + '\n'), 0;
  const cmd = positionals[0] ?? 'serve';
  const explicit: Partial<Record<keyof ServerConfig, string>> = {};
  for (const [flag, key] of Object.entries(flagToKey)) {
    const v = (values as Record<string, unknown>)[flag];
    if (typeof v === 'string') explicit[key] = v;
  }
  for (const [flag, key] of Object.entries(booleanFlags)) if ((values as Record<string, unknown>)[flag] === true) explicit[key] = 'true';
  if (cmd !== 'serve') return runLogCommand(cmd, positionals.slice(1), values as Record<string, unknown>, explicit);
  let server: MykoServer;
  try {
    const plugins = await loadPlugins(resolveConfig(explicit, process.env).plugins);
    server = await MykoServer.start({ config: explicit, env: process.env, plugins });
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`myko: ${err.message}\n`);
    else process.stderr.write(`myko: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const shutdown = (signal: string) => {
    server.log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (err) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return -1; // keep running
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code;
});
