/**
 * Test support: the frames two real executors put on the wire, replayed
 * (WIRE.md 6.7; STYLE.md "replay tests"). Recorded by running each one
 * unchanged against this server; their code is not part of this project.
 *
 * - The 2023 Python executor (rship-coco's lib/exec.py, lib/myko.py): on
 *   `client:setId` it sends one bare `ws:m:event` per item, `data` being only
 *   `{changeType, item, itemType}` (no tx, createdAt, sourceId), with the id
 *   it was given copied into `Instance.clientId`, and its TargetStatus ids are
 *   `${targetId}:status`. It reads only `client:setId` and
 *   `target:action:exec`, and never answers a command.
 * - The TouchDesigner executor (current): one `ws:m:event-batch` whose events
 *   carry `tx`, `createdAt` and `sourceId: null`, `Instance.clientId: null`;
 *   it answers `ExecTargetAction` with `{tx, response: null}` and ignores
 *   every other command.
 */
import { randomUUID } from 'node:crypto';
import { TestClient } from '@myko/server/testing';

export interface ReplayedExecutor {
  client: TestClient;
  /** Every `ws:m:command` the executor received, in order (commandId and command). */
  commands: { commandId: string; command: any }[];
  /** Actions its handlers ran: action id and payload. */
  ran: { actionId: string; data: unknown }[];
}

function recordCommands(client: TestClient): ReplayedExecutor {
  const out: ReplayedExecutor = { client, commands: [], ran: [] };
  client.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command') out.commands.push({ commandId: f.data.commandId, command: f.data.command });
  });
  return out;
}

/** The 2023 executor's registration, item by item, as its `on_exec_connected` sends it. */
export function frames2023(prefix: string, clientId: string): object[] {
  const now = new Date().toISOString().replace('Z', '000+00:00');
  const set = (itemType: string, item: Record<string, unknown>) => ({ data: { changeType: 'SET', item, itemType }, event: 'ws:m:event' });
  return [
    set('Machine', { id: `${prefix}host`, name: `${prefix}host`, dnsName: `${prefix}host`, execName: `${prefix}host`, address: 'fakeAddress' }),
    set('Instance', {
      id: `${prefix}host:coco`, name: 'coco', serviceId: `${prefix}coco`, clientId, serviceTypeCode: 'coco', status: 'Available', machineId: `${prefix}host`, color: '#61c0ff',
    }),
    set('Target', {
      id: `${prefix}root`, name: 'root', actionIds: [`${prefix}root:flash`], emitterIds: [], subTargets: [], serviceId: `${prefix}coco`,
      bgColor: '#61c0ff', fgColor: '#61c0ff', lastUpdated: now, category: 'Rectangle', rootLevel: true,
    }),
    set('Action', { id: `${prefix}root:flash`, name: 'Flash', schema: null, targetId: `${prefix}root`, serviceId: `${prefix}coco` }),
    set('TargetStatus', { id: `${prefix}root:status`, name: 'root Status', targetId: `${prefix}root`, status: 'online', lastUpdated: now, instanceId: `${prefix}host:coco` }),
  ];
}

/**
 * A 2023 executor: registers when it gets `client:setId`, runs `target:action:exec`, answers nothing.
 * `register: false` connects without registering (a test sends the frames itself).
 */
export async function executor2023(url: string, prefix: string, opts: { register?: boolean } = {}): Promise<ReplayedExecutor> {
  const client = await TestClient.connect(url);
  const ex = recordCommands(client);
  client.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event === 'ws:m:command' && f.data.commandId === 'target:action:exec') ex.ran.push({ actionId: f.data.command.action.id, data: f.data.command.data });
  });
  const setId = await client.next((f) => f.event === 'ws:m:command' && f.data.commandId === 'client:setId');
  if (opts.register !== false) for (const frame of frames2023(prefix, setId.data.command.clientId)) client.send(frame);
  return ex;
}

/**
 * The TouchDesigner executor's registration batch. `accepted: true` leaves out what this branch's
 * validation still refuses (WIRE.md 6.1: `sourceId: null`, a Target without the seed's fields), which
 * is fixed on its own; nothing left out plays a part in telling the executor's kind.
 */
export function batchTouchDesigner(prefix: string, opts: { accepted?: boolean } = {}): object {
  const ev = (itemType: string, item: Record<string, unknown>) => ({
    changeType: 'SET', item, itemType, createdAt: new Date().toISOString().replace('Z', '+00:00'), tx: randomUUID(), ...(opts.accepted ? {} : { sourceId: null }),
  });
  const seedTarget = opts.accepted ? { actionIds: [`${prefix}td-op:go`], emitterIds: [], bgColor: '#000', fgColor: '#fff' } : {};
  const inst = `${prefix}td-inst`;
  return {
    event: 'ws:m:event-batch',
    data: [
      ev('Instance', {
        id: inst, name: 'TouchDesigner', serviceId: `${prefix}td`, serviceTypeCode: 'touchdesigner', status: 'Available', machineId: `${prefix}m`, color: '#ff0000',
        clientId: null, message: null, renderDomain: null, coordinateSpace: { right: 'PositiveX', up: 'PositiveY', forward: 'NegativeZ', unitsPerMeter: 1 }, clusterId: null,
      }),
      ev('Target', { id: `${prefix}td-op`, name: 'op', parentTargets: [], serviceId: `${prefix}td`, category: 'COMP', ...seedTarget }),
      ev('Action', { id: `${prefix}td-op:go`, name: 'Go', schema: { type: 'object' }, schemaLayout: null, targetId: `${prefix}td-op`, serviceId: `${prefix}td` }),
      ev('TargetStatus', { id: `${inst}:${prefix}td-op`, name: `${inst}:${prefix}td-op`, targetId: `${prefix}td-op`, status: 'online', instanceId: inst }),
    ],
  };
}

/** A TouchDesigner executor: registers at once, answers ExecTargetAction with `{tx, response: null}`. */
export async function executorTouchDesigner(url: string, prefix: string, opts: { accepted?: boolean } = {}): Promise<ReplayedExecutor> {
  const client = await TestClient.connect(url);
  const ex = recordCommands(client);
  client.ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString());
    if (f.event !== 'ws:m:command' || f.data.commandId !== 'ExecTargetAction') return;
    ex.ran.push({ actionId: f.data.command.action.id, data: f.data.command.data });
    client.send({ event: 'ws:m:command-response', data: { tx: f.data.command.tx, response: null } });
  });
  client.send(batchTouchDesigner(prefix, opts));
  return ex;
}
