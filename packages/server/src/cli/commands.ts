/**
 * The commands of `myko`, each with its own usage, flags and help text
 * (`myko COMMAND --help`), and the overview `myko --help` prints.
 */
import { flagHelp, helpFlag, settingFlags, storeFlags, type FlagSpec } from './flags.js';

export interface CommandSpec {
  name: string;
  /** After `myko NAME`. */
  usage: string;
  summary: string;
  /** Paragraphs after the usage line. */
  about: string;
  positionals: number;
  flags: FlagSpec[];
}

const storeNote = `The store is the data directory's (stop its server first: one process per data directory), or the
cluster's PostgreSQL log with --postgres-url (members may keep running). A data directory without a
store is an error: nothing is created.`;

const progressNote = `Progress bars go to stderr on a terminal; MYKO_PROGRESS=1 forces them, MYKO_PROGRESS=0 turns them off.`;

export const commands: CommandSpec[] = [
  {
    name: 'serve',
    usage: '[options]',
    summary: 'serve ws://HOST:PORT/myko on the embedded store (the default command)',
    about: `Endpoints: ws://HOST:PORT/myko (add ?dialect=seed|current to fix the dialect), /models, /eventrpc;
http://HOST:PORT/ (dashboard), /health/live, /health/ready (/health = ready), /metrics.

Authentication is on when --auth-jwt-secret or --auth-jwks-url is set: clients send a bearer token
(Authorization: Bearer <jwt> or ?access_token=<jwt>); --permissions-file restricts what each role
may read and write.

SIGTERM or SIGINT stops the server cleanly: connections are closed with 1001, accepted events are
committed, then the process exits 0. Started by npm (npm start, npx myko serve), the server also
stops when npm's shell is gone. Each setting is also read from the environment variable shown; flags win.`,
    positionals: 0,
    flags: [...settingFlags, helpFlag],
  },
  {
    name: 'verify',
    usage: '[--data-dir DIR | --postgres-url URL]',
    summary: 'recompute every event id and link; exit 1 at the first mismatch',
    about: `Walks the whole log in order and recomputes every event's identity. Exit 0 when all of it checks out,
1 with the first mismatch (or when there is no store), 2 on a usage error.

${storeNote}
${progressNote}`,
    positionals: 0,
    flags: [...storeFlags, helpFlag],
  },
  {
    name: 'history',
    usage: 'ITEMTYPE ID [--json] [--data-dir DIR | --postgres-url URL]',
    summary: "an item's events, oldest first",
    about: `One line per event: position, time, SET/DEL, the event id's start, the item. --json prints the
stored events, one JSON object a line. Exit 1 when the item has no events.

${storeNote}`,
    positionals: 2,
    flags: [{ flag: 'json', type: 'boolean', help: 'the stored events as JSON lines' }, ...storeFlags, helpFlag],
  },
  {
    name: 'export',
    usage: '[--out FILE] [--data-dir DIR | --postgres-url URL]',
    summary: 'the log as NDJSON (stdout by default)',
    about: `One stored event per line, in log order, with its identity (id, parents, chain): \`myko import\`
reads it back.

${storeNote}
${progressNote}`,
    positionals: 0,
    flags: [{ flag: 'out', type: 'string', arg: 'FILE', help: 'write here instead of stdout' }, ...storeFlags, helpFlag],
  },
  {
    name: 'import',
    usage: '--in FILE [--data-dir DIR | --postgres-url URL]',
    summary: 'NDJSON into an empty store, then verify (all or nothing)',
    about: `Reads an export into an empty store, keeping every event's identity, then verifies the whole log.
All or nothing: a failed import leaves the store empty, and a data directory it created is removed.
A fresh data directory is created; an --in file that cannot be read creates nothing.

${progressNote}`,
    positionals: 0,
    flags: [{ flag: 'in', type: 'string', arg: 'FILE', help: 'the NDJSON file to read (required)' }, ...storeFlags, helpFlag],
  },
  {
    name: 'mcp',
    usage: '--url ws://HOST:PORT/myko [--token JWT] [--mcp full|read-only] [--plugins LIST]',
    summary: 'the Model Context Protocol over stdio, for desktop agents, as a client of a running server',
    about: `Serves the same tools as the server's own http://HOST:PORT/mcp over stdin/stdout, talking to the
server at --url as a Myko client: a desktop agent host starts it as a local process. stdout carries
the protocol; everything else goes to stderr. Runs until stdin closes or a signal.`,
    positionals: 0,
    flags: [
      { flag: 'url', type: 'string', arg: 'URL', env: 'MYKO_URL', help: "the server's Myko endpoint (ws:// or wss://; required)" },
      { flag: 'token', type: 'string', arg: 'JWT', env: 'MYKO_TOKEN', help: 'sent as the server requires it (authentication on)' },
      { flag: 'mcp', type: 'string', arg: 'MODE', env: 'MYKO_MCP', help: 'full | read-only (queries, views, reports, history only)' },
      { flag: 'plugins', type: 'string', arg: 'LIST', env: 'MYKO_PLUGINS', help: "plugin modules whose item types, commands and tools the server has, comma-separated" },
      helpFlag,
    ],
  },
];

export const commandByName = new Map(commands.map((c) => [c.name, c]));

export function commandHelp(c: CommandSpec, version: string): string {
  return `myko ${c.name} (myko ${version}): ${c.summary}

Usage:
  myko ${c.name} ${c.usage}

${c.about}

Flags:
${flagHelp(c.flags)}
`;
}

/** `myko --help`: the commands, then serve's flags (serve is what `myko` alone runs). */
export function overviewHelp(version: string): string {
  const w = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `myko ${version}: a real-time, event-sourced state server

Usage:
  myko COMMAND [flags]
  myko COMMAND --help       that command's usage, flags and environment variables
  myko --help | --version

Commands:
${commands.map((c) => `  ${c.name.padEnd(w)}${c.summary}`).join('\n')}

${commandHelp(commandByName.get('serve')!, version)}`;
}
