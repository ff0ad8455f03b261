/**
 * Pulses: an emitter's values, `SET Pulse` sent at once (not batched with
 * registration changes), the last one kept while disconnected and sent again
 * after a reconnect and on ResendEmitterValue. The server keeps pulses in
 * memory only.
 */
import type { Emitter, Pulse } from '../entities.js';
import type { ExecutorRegistry } from './registry.js';
import type { ExecutorTarget } from './target.js';
import { ExecutorError } from './types.js';

/** A source of pulses on a target. */
export class ExecutorEmitter {
  private lastPulse: { data: unknown; timestamp: number } | undefined;

  /** @internal */
  constructor(
    readonly target: ExecutorTarget,
    readonly id: string,
    readonly name: string,
    readonly schema: object | string | null,
  ) {}

  /** The last value pulsed (kept while disconnected, re-sent after a reconnect and on ResendEmitterValue). */
  get last(): { data: unknown; timestamp: number } | undefined {
    return this.lastPulse;
  }

  /**
   * Publish a value: `SET Pulse {id: emitterId, emitterId, data, timestamp}`,
   * sent at once (not batched). While disconnected it is only kept as the
   * last value; after `close()` it is dropped. Returns whether it went out now.
   */
  pulse(data: unknown, timestamp: number = Date.now()): boolean {
    this.lastPulse = { data, timestamp };
    return this.target.session._pulse(this.pulseItem());
  }

  /**
   * Send the last value again, stamped now (a pulse identical to the stored
   * one would change nothing for watchers). False when there is none or it
   * could not go out now. Answers ResendEmitterValue.
   */
  resend(): boolean {
    if (!this.lastPulse) return false;
    this.lastPulse = { data: this.lastPulse.data, timestamp: Date.now() };
    return this.target.session._pulse(this.pulseItem());
  }

  /** @internal After a reconnect: the last value with its own timestamp. */
  resendQuietly(): void {
    if (this.lastPulse) this.target.session._pulse(this.pulseItem());
  }

  /** @internal */
  item(): Emitter {
    return { id: this.id, name: this.name, targetId: this.target.id, serviceId: this.target.instance.serviceId, schema: this.schema };
  }

  private pulseItem(): Pulse {
    return { id: this.id, emitterId: this.id, data: this.lastPulse?.data ?? null, timestamp: this.lastPulse?.timestamp ?? Date.now() };
  }
}

/** ResendEmitterValue `{emitterId}` → `{emitterId, resent}`. */
export function resendEmitterValue(registry: ExecutorRegistry, p: Record<string, unknown>): { emitterId: string; resent: boolean } {
  const id = p.emitterId;
  if (typeof id !== 'string') throw new ExecutorError('MYKO_BAD_COMMAND', 'ResendEmitterValue needs emitterId');
  const e = registry.emitters.get(id);
  if (!e) throw new ExecutorError('RSHIP_UNKNOWN_EMITTER', `this executor has no emitter ${id}`);
  return { emitterId: id, resent: e.resend() };
}
