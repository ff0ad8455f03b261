export { MykoServer, type MykoServerOptions } from './server.js';
export { resolveConfig, defaultConfig, ConfigError, type ServerConfig } from './config.js';
export {
  defineItemType,
  defineQuery,
  defineReport,
  defineCommand,
  defineView,
  definePlugin,
  type ItemTypeDef,
  type QueryDef,
  type QueryFilter,
  type ReportDef,
  type ReportCaller,
  type CommandDef,
  type CommandResolver,
  type ViewDef,
  type CommandContext,
  type EventInput,
  type MykoPlugin,
  type BelongsTo,
  type EnsureFor,
} from './core/registry.js';
export { ensuredId } from './relations/ensured-id.js';
export type { StateReader, Change } from './core/state.js';
export type { Backref } from './core/backrefs.js';
export { defineReaction, type ReactionDef, type ReactionEvent, type ReactionCommand, type ReactionContext } from './reactions/define.js';
export type { ReactionStatus } from './reactions/runner.js';
export type { EventStore, StoredEvent, NewEvent, Checkpoint } from './store/event-store.js';
export { StoreError } from './store/event-store.js';
export { SqliteEventStore } from './store/sqlite/index.js';
export { equalityFilter } from './builtins.js';
export { ClientCommandError } from './gateway/connection.js';
export { describeAjvErrors } from './wire/ajv.js';
export { defineMcpTool, defineMcpResource, type McpToolDef, type McpResourceDef } from './mcp/tool-def.js';
export { McpToolError, type McpBackend, type QueryInput, type QueryOutput, type ItemTypeSummary, type HistoryOutput } from './mcp/backend.js';
