import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** The server's /mcp address for its /myko URL. */
export const mcpUrl = (mykoUrl: string): string => mykoUrl.replace(/^ws/, 'http').replace(/\/myko$/, '/mcp');

/** An agent: the SDK's own Client over its streamable HTTP transport, with a Bearer token when given. */
export async function connectMcp(url: string, opts: { token?: string; name?: string } = {}): Promise<Client> {
  const client = new Client({ name: opts.name ?? 'test-agent', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), opts.token ? { requestInit: { headers: { authorization: `Bearer ${opts.token}` } } } : {});
  await client.connect(transport);
  return client;
}

export interface ToolOutcome {
  isError: boolean;
  /** The tool's JSON answer: the result, or `{code, message}` for an error. */
  value: any;
}

/** Call a tool and read its compact JSON answer. */
export async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> {
  const r = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: { type: string; text?: string }[] };
  const text = r.content.find((c) => c.type === 'text')?.text ?? 'null';
  return { isError: r.isError === true, value: JSON.parse(text) };
}
