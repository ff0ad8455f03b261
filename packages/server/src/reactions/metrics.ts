import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServerContext } from '../context.js';

/**
 * Reaction metrics, read from the runners at scrape time (no cost between
 * scrapes). A reaction shows on the member that runs it; elsewhere its
 * position and lag are 0 and `myko_reaction_active` is 0.
 */
export function registerReactionMetrics(ctx: ServerContext, registers: Registry[]): void {
  const gauge = (name: string, help: string, value: (s: ReturnType<ServerContext['reactions']['status']>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['reaction'],
      registers,
      collect() {
        this.reset();
        for (const s of ctx.reactions.status()) this.set({ reaction: s.id }, value(s));
      },
    });
  const counter = (name: string, help: string, value: (s: ReturnType<ServerContext['reactions']['status']>[number]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['reaction'],
      registers,
      collect() {
        this.reset();
        for (const s of ctx.reactions.status()) this.inc({ reaction: s.id }, value(s));
      },
    });
  gauge('myko_reaction_active', '1 while this server runs the reaction (cluster: the member holding its lock)', (s) => (s.active ? 1 : 0));
  gauge('myko_reaction_position', 'Last log position the reaction finished', (s) => s.position);
  gauge('myko_reaction_lag_events', 'Committed log positions the reaction has not yet considered (0 when caught up)', (s) => s.lag);
  counter('myko_reaction_handled_total', 'Events whose commands all succeeded (this process)', (s) => s.handled);
  counter('myko_reaction_retries_total', 'Failed attempts that were retried after a backoff (this process)', (s) => s.retries);
  counter('myko_reaction_failures_total', 'Events given up after the retry limit, logged with the event (this process)', (s) => s.failures);
}
