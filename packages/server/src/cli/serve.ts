/**
 * `myko serve`: load plugins, start, and stop cleanly on a signal or when the
 * npm process that launched us is gone.
 */
import { MykoServer } from '../server.js';
import { ConfigError, resolveConfig, type ServerConfig } from '../config.js';
import { loadPlugins } from './plugins.js';
import { inFlagTerms } from './flags.js';

/** How often a server started by npm checks that its parent is still there. */
const launcherPollMs = 250;

/**
 * Under npm (`npm start`, `npx myko serve`) a process manager signals npm's
 * PID, not ours. npm forwards SIGTERM and SIGINT to its child: with the start
 * script's `exec` that child is this process; under `npx` it is a `sh -c` that
 * dies of SIGTERM without passing it on. That leaves us orphaned, serving with
 * nobody to stop us: a parent that changed means whoever launched us is gone,
 * so we stop as for SIGTERM. (sh defers a SIGINT until its child exits, so
 * `npx myko serve` cannot see one: process managers should run `npm start` or
 * `myko serve` itself.) Outside npm a changed parent means nothing (nohup,
 * daemonizing), so this watch is only on when npm set npm_lifecycle_event.
 */
function watchLauncher(onGone: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, launcherPollMs);
  timer.unref();
}

/** Start serving; resolves with 1 when the server could not start, and never otherwise (the process exits on shutdown). */
export async function serve(explicit: Partial<Record<keyof ServerConfig, string>>): Promise<number> {
  let server: MykoServer | undefined;
  let stopping: string | undefined;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = signal;
    // A signal while starting (a process manager stopping a slow boot) is honoured once the server is up.
    if (server) stop(server, signal);
  };
  // Listened for before starting: the default action of SIGTERM would kill the process without a clean stop.
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    const plugins = await loadPlugins(resolveConfig(explicit, process.env).plugins);
    server = await MykoServer.start({ config: explicit, env: process.env, plugins });
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`myko: ${inFlagTerms(err.message)}\n`);
    else process.stderr.write(`myko: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  if (stopping) stop(server, stopping);
  watchLauncher(() => shutdown('launcher gone'));
  return new Promise<number>(() => undefined);
}

function stop(server: MykoServer, signal: string): void {
  server.log.info({ signal }, 'shutting down');
  server.stop().then(
    () => process.exit(0),
    (err) => {
      server.log.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
}
