#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, resolveConfig, type ServerConfig } from './config.js';
import { commandByName, commandHelp, commands, overviewHelp, type CommandSpec } from './cli/commands.js';
import { inFlagTerms, nearest } from './cli/flags.js';

// Each command's module is loaded when that command runs: `myko serve` imports the whole server and
// `myko mcp` the MCP SDK, about half a second that `myko verify` (a log command) spent before starting.

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * A reader that went away (`myko history --json | head`) ends the command
 * quietly, as it does `cat`: exit 141 (128 + SIGPIPE) without a stack trace.
 * A server whose log pipe closed keeps serving: losing its log is no reason to
 * drop every client.
 */
function quietOnClosedStdout(cmd: string): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (cmd !== 'serve') process.exit(141);
  });
}

/** `myko X --bogus`: say which flag, the nearest real one, and where the rest are. */
function unknownFlag(c: CommandSpec, typed: string): string {
  const name = typed.replace(/^-+/, '').split('=')[0]!;
  const own = c.flags.map((f) => f.flag);
  const elsewhere = commands.filter((o) => o !== c && o.flags.some((f) => f.flag === name)).map((o) => `myko ${o.name}`);
  const guess = nearest(name, own);
  return (
    `myko ${c.name}: unknown flag ${typed}` +
    (elsewhere.length > 0 ? ` (a flag of ${elsewhere.join(', ')}, not of myko ${c.name})` : guess ? `; did you mean --${guess}?` : '') +
    `\nsee: myko ${c.name} --help\n`
  );
}

/** Which command argv names, and the rest of it; undefined when argv asks for the overview or the version. */
function splitCommand(argv: string[]): { c: CommandSpec; rest: string[] } | { unknown: string } | 'help' | 'version' {
  const first = argv[0];
  if (first === 'help') return argv[1] && commandByName.has(argv[1]) ? { c: commandByName.get(argv[1])!, rest: ['--help'] } : 'help';
  if (first !== undefined && !first.startsWith('-')) {
    const c = commandByName.get(first);
    return c ? { c, rest: argv.slice(1) } : { unknown: first };
  }
  // No command: `myko --help`, `myko --version`, or `myko [serve flags]`.
  if (argv.includes('--version') || argv.includes('-v')) return 'version';
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  return { c: commandByName.get('serve')!, rest: argv };
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'mcp') return (await import('./cli/mcp-command.js')).runMcpCommand(argv.slice(1));
  const split = splitCommand(argv);
  quietOnClosedStdout(typeof split === 'object' && 'c' in split ? split.c.name : '');
  if (split === 'help') return void process.stdout.write(overviewHelp(version)), 0;
  if (split === 'version') return void process.stdout.write(version + '\n'), 0;
  if ('unknown' in split) {
    const guess = nearest(split.unknown, [...commandByName.keys()]);
    process.stderr.write(`myko: unknown command ${split.unknown}${guess ? `; did you mean ${guess}?` : ''}\nsee: myko --help\n`);
    return 2;
  }
  const { c, rest } = split;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { ...Object.fromEntries(c.flags.map((f) => [f.flag, { type: f.type }])), help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const typed = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-[^']+)'/.exec(e.message)?.[1] : undefined;
    process.stderr.write(typed ? unknownFlag(c, typed) : `myko ${c.name}: ${e.message}\nsee: myko ${c.name} --help\n`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return void process.stdout.write(commandHelp(c, version)), 0;
  if (parsed.positionals.length !== c.positionals) {
    process.stderr.write(`myko ${c.name}: usage: myko ${c.name} ${c.usage}\nsee: myko ${c.name} --help\n`);
    return 2;
  }
  const explicit: Partial<Record<keyof ServerConfig, string>> = {};
  for (const f of c.flags) {
    const v = values[f.flag];
    if (f.key && v !== undefined) explicit[f.key] = String(v);
  }
  if (c.name === 'serve') return (await import('./cli/serve.js')).serve(explicit);
  let config: ServerConfig;
  try {
    config = resolveConfig(explicit, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`myko: ${inFlagTerms(err.message)}\n`);
    return 2;
  }
  return (await import('./cli/log-commands.js')).runLogCommand(c.name, parsed.positionals, values, config);
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
