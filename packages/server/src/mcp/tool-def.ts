import type { Registry } from '../core/registry.js';
import type { McpBackend, QueryInput } from './backend.js';

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
  /** Whether the tool is offered with this registry (default: always), e.g. only when there is something for it to run. */
  available?(registry: Registry): boolean;
  /** Code of the tool error for arguments that fail `inputSchema` (default MYKO_BAD_REQUEST). */
  badInputCode?: string;
  /** The result, returned to the agent as compact JSON. Throw McpToolError for a refusal with a code. */
  call(args: Record<string, any>, backend: McpBackend): Promise<unknown>;
}

export const defineMcpTool = (t: McpToolDef): McpToolDef => t;

/**
 * A family of resources a plugin offers agents (e.g. Rocketship's action
 * schemas), under one URI template. Read as JSON; with `watch`, an agent can
 * subscribe to one and is told when it changes.
 */
export interface McpResourceDef {
  /** Unique name of the family. */
  name: string;
  /** RFC 6570 template, e.g. `myko://rship/action/{id}`. */
  uriTemplate: string;
  title?: string;
  description: string;
  /** The resources it holds now (resources/list). */
  list(backend: McpBackend): Promise<{ uri: string; name: string; description?: string }[]>;
  /** One resource's value by the template's variables; throw McpToolError when absent or refused. */
  read(vars: Record<string, string>, backend: McpBackend): Promise<unknown>;
  /** The query whose changes change this resource: a subscription is a live query of it. */
  watch?(vars: Record<string, string>): QueryInput;
}

export const defineMcpResource = (r: McpResourceDef): McpResourceDef => r;
