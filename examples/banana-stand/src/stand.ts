import { ExecutorError, type ExecutorEmitter, type ExecutorInstance, type ExecutorSession, type ExecutorTarget } from '@myko/rship';

/**
 * The Banana Stand of seed 001 ("there's always money in the banana stand"):
 * target `banana-stand` with actions `burn` and `fill-with-money`, emitters
 * `banana-sold`, `banana-tossed` and `dollar-taken`, and the sub-target
 * `cash-register`. A simulated stand sells a banana every `pulseMs`.
 */

export interface StandOptions {
  instanceId?: string;
  /** Milliseconds between sales (each sale pulses banana-sold and dollar-taken). Default 1000. */
  pulseMs?: number;
  /** Leave out the cash-register sub-target (the tests use it to show stale targets going offline). */
  cashRegister?: boolean;
  log?: (line: string) => void;
}

export const burnSchema = {
  type: 'object',
  title: 'Burn',
  description: 'Set the stand on fire (0 puts it out).',
  required: ['intensity'],
  properties: { intensity: { type: 'number', minimum: 0, maximum: 10 } },
  additionalProperties: false,
} as const;

export const fillWithMoneySchema = {
  type: 'object',
  title: 'Fill with money',
  description: 'Hide cash in the walls of the stand.',
  required: ['amount'],
  properties: { amount: { type: 'number', exclusiveMinimum: 0, maximum: 250000 }, note: { type: 'string', maxLength: 200 } },
  additionalProperties: false,
} as const;

const emptyObject = { type: 'object', properties: {}, additionalProperties: false } as const;

export interface BananaStand {
  instance: ExecutorInstance;
  stand: ExecutorTarget;
  register: ExecutorTarget | undefined;
  emitters: { bananaSold: ExecutorEmitter; bananaTossed: ExecutorEmitter; dollarTaken: ExecutorEmitter; balance: ExecutorEmitter | undefined };
  state: { sold: number; tossed: number; cash: number; fire: number };
  /** Start selling (pulsing). */
  start(): void;
  stop(): void;
}

export function bananaStand(session: ExecutorSession, opts: StandOptions = {}): BananaStand {
  const log = opts.log ?? (() => undefined);
  const pulseMs = opts.pulseMs ?? 1000;
  const state = { sold: 0, tossed: 0, cash: 0, fire: 0 };

  const instance = session.addInstance({
    id: opts.instanceId ?? 'bluth-banana-stand',
    name: 'Bluth Banana Stand',
    serviceId: 'bluth-company',
    serviceName: 'The Bluth Company',
    serviceTypeCode: 'bluth',
    color: '#ffff00',
  });

  const stand = instance.addTarget({ id: 'banana-stand', name: 'The Banana Stand', bgColor: '#ffff00', fgColor: '#000000', category: 'Frozen bananas' });
  const bananaSold = stand.addEmitter('banana-sold', {
    type: 'object',
    properties: { count: { type: 'integer' }, price: { type: 'number' }, at: { type: 'number', description: 'sale time, ms since the epoch' } },
  });
  const bananaTossed = stand.addEmitter('banana-tossed', { type: 'object', properties: { count: { type: 'integer' } } });
  const dollarTaken = stand.addEmitter('dollar-taken', { type: 'object', properties: { amount: { type: 'number' }, total: { type: 'number' } } });

  let register: ExecutorTarget | undefined;
  let balance: ExecutorEmitter | undefined;
  if (opts.cashRegister !== false) {
    register = stand.addTarget({ id: 'cash-register', name: 'Cash Register', bgColor: '#2e7d32', fgColor: '#ffffff', category: 'Frozen bananas' });
    balance = register.addEmitter('balance', { type: 'object', properties: { cash: { type: 'number' } } });
    register.addAction('open-drawer', emptyObject, () => {
      log(`open-drawer: $${state.cash}`);
      return { cash: state.cash };
    });
    register.addAction('empty', emptyObject, () => {
      const taken = state.cash;
      state.cash = 0;
      balance?.pulse({ cash: 0 });
      log(`empty: took $${taken}`);
      return { taken };
    });
  }

  stand.addAction('burn', burnSchema, (data: { intensity: number }) => {
    state.fire = data.intensity;
    log(data.intensity > 0 ? `burn: the stand is on fire (${data.intensity})` : 'burn: fire is out');
    return { burning: state.fire > 0, intensity: state.fire };
  });

  stand.addAction('fill-with-money', fillWithMoneySchema, (data: { amount: number; note?: string }) => {
    if (state.fire > 0) throw new ExecutorError('STAND_ON_FIRE', `The Banana Stand is on fire (intensity ${state.fire}): the money would burn`);
    state.cash += data.amount;
    dollarTaken.pulse({ amount: data.amount, total: state.cash });
    balance?.pulse({ cash: state.cash });
    log(`fill-with-money: +$${data.amount}, $${state.cash} in the stand`);
    return { cash: state.cash };
  });

  let timer: ReturnType<typeof setInterval> | undefined;
  const sell = () => {
    if (state.fire > 0) return; // nobody buys from a burning stand
    state.sold++;
    state.cash += 1;
    bananaSold.pulse({ count: state.sold, price: 1, at: Date.now() });
    dollarTaken.pulse({ amount: 1, total: state.cash });
    balance?.pulse({ cash: state.cash });
    if (state.sold % 5 === 0) bananaTossed.pulse({ count: ++state.tossed });
  };

  return {
    instance,
    stand,
    register,
    emitters: { bananaSold, bananaTossed, dollarTaken, balance },
    state,
    start() {
      timer ??= setInterval(sell, pulseMs);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
