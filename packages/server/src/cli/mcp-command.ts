import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { defaultConfig } from '../config.js';
import { Registry } from '../core/registry.js';
import { builtinPlugin } from '../builtins.js';
import { restorePointsPlugin } from '../log/restore-points.js';
import { ClientBackend, type MykoClientLike } from '../mcp/client-backend.js';
import { createMcpServer, type McpMode } from '../mcp/mcp-server.js';
import { loadPlugins } from './plugins.js';
import { commandByName, commandHelp } from './commands.js';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The same text as `myko help mcp` (cli/commands.ts owns every command's help). */
export const mcpHelp = commandHelp(commandByName.get('mcp')!, version);

/** The @myko/client Node entry, resolved at run time (see client-backend.ts: no compile-time reference). */
const clientModule: string = '@myko/client/node';

/**
 * `myko mcp --url ws://HOST:PORT/myko`: stdio MCP for a desktop agent. stdout
 * carries the protocol, so everything else goes to stderr. Runs until stdin
 * closes (the agent host ends it) or a signal.
 */
export async function runMcpCommand(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: { url: { type: 'string' }, token: { type: 'string' }, mcp: { type: 'string' }, plugins: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    process.stderr.write(`myko mcp: ${(err as Error).message}\n\n${mcpHelp}`);
    return 2;
  }
  if (values.help) return void process.stdout.write(mcpHelp), 0;
  const env = process.env;
  const url = (values.url as string | undefined) ?? env.MYKO_URL;
  const token = (values.token as string | undefined) ?? (env.MYKO_TOKEN || undefined);
  const mode = ((values.mcp as string | undefined) ?? env.MYKO_MCP ?? 'full') as McpMode | 'off';
  if (!url || !/^wss?:\/\//.test(url)) {
    process.stderr.write(`myko mcp: --url ws://HOST:PORT/myko is required\n\n${mcpHelp}`);
    return 2;
  }
  if (mode !== 'full' && mode !== 'read-only') {
    process.stderr.write(`myko mcp: --mcp must be full or read-only, got ${mode}\n`);
    return 2;
  }
  const registry = new Registry();
  try {
    for (const p of await loadPlugins((values.plugins as string | undefined) ?? env.MYKO_PLUGINS ?? defaultConfig.plugins)) registry.register(p);
    // Registered as the server registers them, for their item types and command schemas; never run here.
    registry.register(restorePointsPlugin(() => {
      throw new Error('not in a server');
    }));
    registry.register(builtinPlugin);
  } catch (err) {
    process.stderr.write(`myko mcp: ${(err as Error).message}\n`);
    return 1;
  }
  let clientLib: {
    MykoClient: new (o: Record<string, unknown>) => MykoClientLike & { onError(cb: (e: Error) => void): () => void };
    nodeTransport: unknown;
  };
  try {
    clientLib = (await import(clientModule)) as typeof clientLib;
  } catch (err) {
    process.stderr.write(`myko mcp: needs the Myko client library (npm install @myko/client): ${(err as Error).message}\n`);
    return 1;
  }
  const { MykoClient, nodeTransport } = clientLib;
  const client = new MykoClient({ url, transport: nodeTransport, ...(token ? { token } : {}) });
  client.onError((e) => process.stderr.write(`myko mcp: ${e.message}\n`));
  const backend = new ClientBackend(registry, client, url, token);
  const mcp = createMcpServer({ backend, mode, version });
  const stop = () => {
    backend.close();
    client.close();
    void mcp.close().finally(() => process.exit(0));
  };
  await mcp.connect(new StdioServerTransport());
  process.stdin.once('end', stop);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stderr.write(`myko mcp: serving ${mode} tools over stdio for ${url}\n`);
  return -1; // keep running
}
