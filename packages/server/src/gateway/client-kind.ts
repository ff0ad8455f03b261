import { Kind } from '@myko/protocol';
import type { Connection } from './connection.js';

/**
 * What kind of client is on a connection, guessed from what it sends when it
 * did not say (WIRE.md 1.1, 6.7). Two guesses, each on a signal no current
 * client gives:
 *
 * - seed dialect: `clientId` echoed in `data` (current clients never send it);
 * - the 2023 Rocketship executor (Python, `target:action:exec`, never answers a
 *   command): a bare `ws:m:event` SET of an `Instance` whose `clientId` is the
 *   id this connection was given, where `data` holds nothing but
 *   `changeType`, `item` and `itemType`.
 *
 * Why that second signal cannot catch a current executor: the 2023 executor
 * builds its events from three fields only and copies the id from
 * `client:setId` into its Instance. Current executors always add `tx` and
 * `createdAt` (the TouchDesigner one also `sourceId: null`) and leave
 * `Instance.clientId` null for the server to fill; our SDK sends event
 * batches. Either half alone is weaker (a hand-written current client may
 * send bare events; another SDK may copy its id), so both are required.
 * An explicit `?dialect=current` (or subprotocol `myko.current`) turns every
 * guess off.
 */
export type KindChange = 'seed' | 'executor-2023';

const bareEventKeys = new Set(['changeType', 'item', 'itemType']);

export function detectClientKind(conn: Connection, event: string, data: unknown): KindChange | undefined {
  if (conn.dialectFixed && conn.dialect === 'current') return undefined;
  const d = data as Record<string, unknown> | null;
  if (!d || typeof d !== 'object' || Array.isArray(d)) return undefined;
  if (!conn.neverAnswers && event === Kind.Event && isExecutor2023Instance(conn.clientId, d)) {
    conn.neverAnswers = true;
    conn.dialect = 'seed';
    return 'executor-2023';
  }
  if (!conn.dialectFixed && conn.dialect === 'current' && typeof d.clientId === 'string') {
    conn.dialect = 'seed';
    return 'seed';
  }
  return undefined;
}

function isExecutor2023Instance(clientId: string, d: Record<string, unknown>): boolean {
  if (d.itemType !== 'Instance' || d.changeType !== 'SET') return false;
  for (const k of Object.keys(d)) if (!bareEventKeys.has(k)) return false;
  const item = d.item as Record<string, unknown> | null;
  return !!item && typeof item === 'object' && item.clientId === clientId;
}
