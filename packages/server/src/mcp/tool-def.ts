import type { Registry } from '../core/registry.js';
import type { McpBackend } from './backend.js';

/**
 * One tool offered to AI agents on the MCP endpoint. The server's own tools
 * (tools.ts) and a plugin's (`MykoPlugin.mcpTools`, e.g. Rocketship's) are
 * written the same way: against McpBackend, so one definition serves /mcp in
 * the server process and `myko mcp --url` over a Myko connection.
 */
export interface McpToolDef {
  /** snake_case, unique across the server and its plugins. */
  name: string;
  title?: string;
  description: string;
  /** Only reads: offered in read-only mode (`--mcp read-only`); anything that writes or acts must say false. */
  readOnly: boolean;
  /**
   * JSON Schema (an object schema) of the arguments, built from what is
   * registered (item types, commands, ...). The arguments are checked against
   * it before `call`; a mismatch is a tool error with `badInputCode`.
   */
  inputSchema(registry: Registry): Record<string, unknown>;
  /** Code of the tool error for arguments that fail `inputSchema` (default MYKO_BAD_REQUEST). */
  badInputCode?: string;
  /** The result, returned to the agent as compact JSON. Throw McpToolError for a refusal with a code. */
  call(args: Record<string, any>, backend: McpBackend): Promise<unknown>;
}

export const defineMcpTool = (t: McpToolDef): McpToolDef => t;
