import type { ServerContext } from '../context.js';
import type { Subscriber } from '../live/subscriber.js';
import { QuerySubscription } from '../live/query-subscription.js';
import type { QueryRequest } from '../live/live-queries.js';
import { historicState, type AsOf } from './historic-state.js';
import { reportResponseFrame } from '../wire/frames.js';

/**
 * A query with `asOf` in its params: answered once (sequence 0, or the seed
 * dialect's whole result) from state rebuilt out of the log; never live, and
 * never touching live state. Throws for the caller to answer with query-error.
 */
export async function answerHistoricQuery(ctx: ServerContext, conn: Subscriber, req: QueryRequest, asOf: AsOf): Promise<void> {
  const def = ctx.registry.query(req.queryId, req.itemType);
  if (!def) throw new Error(`unknown query ${req.queryId}`);
  const itemType = def.itemType ?? req.itemType;
  const filter = def.compile(req.params, itemType);
  const state = await historicState(ctx.store, asOf, [itemType], ctx.state.backrefs);
  const sub = new QuerySubscription(conn, req.tx, req.queryId, itemType, filter, req.window);
  sub.load(state);
  sub.snapshot(state);
}

export async function answerHistoricReport(
  ctx: ServerContext,
  conn: Subscriber,
  tx: string,
  reportId: string,
  params: Record<string, unknown>,
  asOf: AsOf,
): Promise<void> {
  const def = ctx.registry.report(reportId);
  if (!def) throw new Error(`unknown report ${reportId}`);
  const state = await historicState(ctx.store, asOf, def.dependsOn(params), ctx.state.backrefs);
  const value: unknown = await def.compute(params, state, { clientId: conn.clientId });
  conn.send(() => reportResponseFrame(conn.dialect, tx, value));
}
