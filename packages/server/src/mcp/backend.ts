import type { MItem, QueryWindow } from '@myko/protocol';
import type { Registry } from '../core/registry.js';

/** A refusal or failure, answered to the agent as an MCP tool error carrying the server's code and message. */
export class McpToolError extends Error {
  override name = 'McpToolError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ItemTypeSummary {
  name: string;
  count: number;
  persisted: boolean;
}

export interface QueryInput {
  queryId: string;
  itemType: string;
  params: Record<string, unknown>;
  window?: QueryWindow | undefined;
}

export interface ViewInput {
  viewId: string;
  params: Record<string, unknown>;
  window?: QueryWindow | undefined;
}

export interface QueryOutput {
  /** Items of the window (or every item when unwindowed), sorted by id. */
  items: MItem[];
  /** The whole result's size. */
  totalCount: number;
}

export interface HistoryOutput {
  itemType: string;
  id: string;
  persisted: boolean;
  current: MItem | null;
  events: unknown[];
}

/**
 * What the MCP tools need of a Myko server, as one interface with two
 * implementations, so every tool is written once:
 *
 *   ServerBackend  (server-backend.ts)  in the server process: the live engines, runCommand, the store,
 *                                       with the MCP session's claims and limits
 *   ClientBackend  (client-backend.ts)  `myko mcp --url`: a Myko client of a running server
 *
 * Every method throws McpToolError for a refusal (with the server's code).
 */
export interface McpBackend {
  /** What is registered: item types, queries, reports and commands with their schemas. */
  readonly registry: Registry;
  itemTypes(): Promise<ItemTypeSummary[]>;
  /** A query's current result (one-shot: the live query is started, read and cancelled). */
  query(q: QueryInput): Promise<QueryOutput>;
  /** A view's current result (one-shot, as `query`). */
  view(v: ViewInput): Promise<QueryOutput>;
  /** A report's current value. */
  report(reportId: string, params: Record<string, unknown>): Promise<unknown>;
  history(itemType: string, id: string): Promise<HistoryOutput>;
  /** Run a command as the caller; resolves with its response. */
  command(commandId: string, params: Record<string, unknown>): Promise<unknown>;
  /**
   * A live query: `onChange` gets the result each time it changes after the
   * first. Resolves with the function that stops it.
   */
  watch(q: QueryInput, onChange: (result: QueryOutput) => void): Promise<() => void>;
  /** Ends every watch; the backend is not used again. */
  close(): void;
}
