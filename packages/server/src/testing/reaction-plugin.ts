import { definePlugin, type MykoPlugin } from '../core/registry.js';
import { defineReaction } from '../reactions/define.js';

/**
 * A plugin for reaction tests (in-process, and loaded by a CLI child through
 * MYKO_PLUGINS): every SET of an `RxOrder` becomes one `RecordRxEffect`
 * command, which writes `RxEffect {id: <its tx>, orderId, seq, caller,
 * overlapped}`. The effect's id is the command's tx, so the command is
 * idempotent by its tx: a second delivery of an order writes the same item
 * again (one more SET in the log, no second RxEffect). `overlapped` is true
 * when another RecordRxEffect was running at the same time.
 * MYKO_RX_DELAY_MS (default 3) is how long each command takes.
 */
export function reactionTestPlugin(opts: { delayMs?: number; name?: string } = {}): MykoPlugin {
  const delayMs = opts.delayMs ?? Number(process.env.MYKO_RX_DELAY_MS ?? 3);
  let running = 0;
  return definePlugin({
    name: opts.name ?? 'reaction-test',
    commands: [
      {
        id: 'RecordRxEffect',
        handler: async (p, ctx) => {
          running++;
          const overlapped = running > 1;
          try {
            await new Promise((r) => setTimeout(r, delayMs));
            await ctx.emit({
              itemType: 'RxEffect',
              changeType: 'SET',
              item: { id: ctx.tx, orderId: String(p.orderId), seq: Number(p.seq), caller: String(ctx.claims?.sub ?? ''), overlapped },
            });
          } finally {
            running--;
          }
          return true;
        },
      },
    ],
    reactions: [
      defineReaction({
        id: 'record-effects',
        itemType: 'RxOrder',
        changeType: 'SET',
        from: 'start',
        run: (e) => ({ commandId: 'RecordRxEffect', params: { orderId: e.item.id, seq: e.item.seq } }),
      }),
    ],
  });
}

export const plugin = reactionTestPlugin();
