import { useRef, useState } from 'preact/hooks';
import { getAll, isMykoClientError } from '@myko/client';
import type { Action, Emitter, Instance, Target, TargetStatus } from '@myko/rship';
import { client, useItems } from '../live.js';
import { SchemaForm } from '../components/schema-form.js';
import { Sparkline, type Series } from '../components/sparkline.js';
import { Json } from '../components/json.js';
import { formatAge, formatData, formatTime, timeTitle } from '../format.js';
import { serverNow } from '../server-clock.js';
import { usePulses, type PulseTrack } from './pulse-tracks.js';

/**
 * Rocketship: each instance with its targets (sub-targets nested), drawn in
 * the target's own colours, online or offline from TargetStatus; each
 * target's emitters with the latest pulse and a chart of its numbers; each
 * action with a form from its schema that invokes ExecTargetAction.
 */

const instancesQ = getAll<Instance>('Instance');
const targetsQ = getAll<Target>('Target');
const statusesQ = getAll<TargetStatus>('TargetStatus');
const actionsQ = getAll<Action>('Action');
const emittersQ = getAll<Emitter>('Emitter');
interface Model {
  targets: Map<string, Target>;
  online: Map<string, boolean>;
  actions: Map<string, Action[]>;
  emitters: Map<string, Emitter[]>;
  children: Map<string, string[]>;
  pulses: Map<string, PulseTrack>;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(it);
  }
  return m;
}

const byName = (a: { name?: string; id: string }, b: { name?: string; id: string }) => (a.name ?? a.id).localeCompare(b.name ?? b.id);

export function RshipPage() {
  const instances = useItems(instancesQ);
  const targets = useItems(targetsQ);
  const statuses = useItems(statusesQ);
  const actions = useItems(actionsQ);
  const emitters = useItems(emittersQ);
  const pulses = usePulses();

  const targetMap = new Map(targets.map((t) => [t.id, t]));
  const online = new Map<string, boolean>();
  for (const s of statuses) online.set(s.targetId, (online.get(s.targetId) ?? false) || s.status === 'online');
  // Children from both directions: a parent's subTargets and a child's parentTargets.
  const children = new Map<string, string[]>();
  const addChild = (parent: string, child: string) => {
    const l = children.get(parent) ?? [];
    if (!l.includes(child)) l.push(child);
    children.set(parent, l);
  };
  for (const t of targets) {
    for (const c of t.subTargets ?? []) if (targetMap.has(c)) addChild(t.id, c);
    for (const p of t.parentTargets ?? []) if (targetMap.has(p)) addChild(p, t.id);
  }
  const isChild = new Set([...children.values()].flat());
  const model: Model = {
    targets: targetMap,
    online,
    actions: groupBy(actions, (a) => a.targetId),
    emitters: groupBy(emitters, (e) => e.targetId),
    children,
    pulses,
  };

  // Targets per instance: through TargetStatus, else by service.
  const statusByInstance = groupBy(statuses, (s) => s.instanceId);
  const claimed = new Set<string>();
  const groups = [...instances].sort(byName).map((inst) => {
    const ids = new Set((statusByInstance.get(inst.id) ?? []).map((s) => s.targetId));
    if (ids.size === 0) for (const t of targets) if (t.serviceId === inst.serviceId) ids.add(t.id);
    const roots = [...ids].filter((id) => targetMap.has(id) && !isChild.has(id)).map((id) => targetMap.get(id)!);
    for (const id of ids) claimed.add(id);
    return { inst, roots: roots.sort(byName) };
  });
  const orphans = targets.filter((t) => !claimed.has(t.id) && !isChild.has(t.id)).sort(byName);
  const onlineCount = targets.filter((t) => online.get(t.id)).length;

  return (
    <div class="page rship">
      <div class="page-head">
        <h1>Rocketship</h1>
        <div class="muted">
          {instances.length} instances · {targets.length} targets · <span class="ok-text">{onlineCount} online</span> ·{' '}
          <span class="off-text">{targets.length - onlineCount} offline</span> · {actions.length} actions · {emitters.length} emitters
        </div>
      </div>
      {instances.length === 0 && targets.length === 0 && <div class="empty">No executor has registered yet. Start one, e.g. the Banana Stand example.</div>}
      {groups.map(({ inst, roots }) => (
        <section class="instance" key={inst.id} data-testid={`instance-${inst.id}`}>
          <header class="instance-head">
            <span class="swatch" style={{ background: inst.color ?? 'transparent' }} />
            <h2>{inst.name}</h2>
            <span class={`pill status-${(inst.status ?? 'unknown').toLowerCase()}`} data-testid={`instance-status-${inst.id}`}>
              {inst.status ?? 'unknown'}
            </span>
            <span class="muted small">
              {inst.serviceId} · {inst.serviceTypeCode} · {inst.id}
              {inst.clientId ? ` · client ${inst.clientId.slice(0, 8)}` : ''}
            </span>
          </header>
          {inst.message && <div class="muted small">{inst.message}</div>}
          <div class="targets">
            {roots.length === 0 && <div class="empty small">no targets</div>}
            {roots.map((t) => (
              <TargetCard key={t.id} target={t} model={model} depth={0} seen={new Set()} />
            ))}
          </div>
        </section>
      ))}
      {orphans.length > 0 && (
        <section class="instance">
          <header class="instance-head">
            <h2>Targets without a live instance</h2>
          </header>
          <div class="targets">
            {orphans.map((t) => (
              <TargetCard key={t.id} target={t} model={model} depth={0} seen={new Set()} />
            ))}
          </div>
        </section>
      )}
    </div>
  );
}

function TargetCard({ target: t, model, depth, seen }: { target: Target; model: Model; depth: number; seen: Set<string> }) {
  const isOnline = model.online.get(t.id) === true;
  const mine = new Set(seen).add(t.id);
  const kids = (model.children.get(t.id) ?? []).filter((id) => !mine.has(id)).map((id) => model.targets.get(id)!);
  const actions = (model.actions.get(t.id) ?? []).sort(byName);
  const emitters = (model.emitters.get(t.id) ?? []).sort(byName);
  return (
    <article class={`target ${isOnline ? 'online' : 'offline'}`} data-testid={`target-${t.id}`} data-status={isOnline ? 'online' : 'offline'} style={{ borderColor: t.bgColor }}>
      <header class="target-head" data-testid={`target-head-${t.id}`} style={{ background: t.bgColor, color: t.fgColor }}>
        <span class="target-name">{t.name}</span>
        <span class={`dot ${isOnline ? 'on' : 'off'}`} />
        <span class="target-status" data-testid={`target-status-${t.id}`}>
          {isOnline ? 'online' : 'offline'}
        </span>
        {t.category && <span class="target-cat">{t.category}</span>}
      </header>
      <div class="target-body">
        <div class="muted small">{t.id}</div>
        {emitters.length > 0 && (
          <div class="block">
            <h4>Emitters</h4>
            {emitters.map((e) => (
              <EmitterRow key={e.id} emitter={e} track={model.pulses.get(e.id)} />
            ))}
          </div>
        )}
        {actions.length > 0 && (
          <div class="block">
            <h4>Actions</h4>
            {actions.map((a) => (
              <ActionRow key={a.id} action={a} online={isOnline} />
            ))}
          </div>
        )}
        {kids.length > 0 && (
          <div class="subtargets">
            {kids.map((k) => (
              <TargetCard key={k.id} target={k} model={model} depth={depth + 1} seen={mine} />
            ))}
          </div>
        )}
      </div>
    </article>
  );
}

function EmitterRow({ emitter: e, track }: { emitter: Emitter; track: PulseTrack | undefined }) {
  const series: Series[] = track ? [...track.series].map(([name, values]) => ({ name, values })) : [];
  const when =
    track?.time !== undefined
      ? { age: formatAge(serverNow() - track.time), title: `${formatTime(track.time)} (${timeTitle(track.time)}), ${track.source === 'pulse' ? "the pulse's own timestamp" : 'committed by the server'}` }
      : { age: 'time unknown', title: 'the pulse carries no timestamp and the server did not say when it came' };
  return (
    <div class="emitter" data-testid={`emitter-${e.id}`}>
      <div class="emitter-head">
        <span class="emitter-name">{e.name}</span>
        <span class="muted small" data-testid={`pulse-age-${e.id}`} title={track ? when.title : undefined}>
          {track ? `${track.count} ${track.count === 1 ? 'pulse' : 'pulses'} · ${when.age}` : 'no pulse yet'}
        </span>
      </div>
      <div class="emitter-body">
        <code class="pulse-value" data-testid={`pulse-${e.id}`}>
          {track ? formatData(track.latest.data, 120) : '—'}
        </code>
        {series.length > 0 && <Sparkline series={series} label={`${e.name} pulses`} />}
      </div>
    </div>
  );
}

type Outcome = { ok: true; value: unknown; ms: number } | { ok: false; code: string; message: string; ms: number };

function ActionRow({ action: a, online }: { action: Action; online: boolean }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const run = async (data: unknown) => {
    setBusy(true);
    const t0 = performance.now();
    try {
      const value = await client.sendCommand('ExecTargetAction', { action: { id: a.id }, data });
      setOutcome({ ok: true, value, ms: Math.round(performance.now() - t0) });
    } catch (err) {
      const code = isMykoClientError(err) ? err.code : 'ERROR';
      setOutcome({ ok: false, code, message: (err as Error).message, ms: Math.round(performance.now() - t0) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class={`action ${open ? 'open' : ''}`} data-testid={`action-${a.id}`}>
      <button type="button" class="action-toggle" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span class="caret">{open ? '▾' : '▸'}</span> {a.name}
        {!online && <span class="muted small"> (target offline)</span>}
      </button>
      {open && (
        <div class="action-body">
          <SchemaForm schema={a.schema} idPrefix={`act-${a.id}`} busy={busy} onSubmit={(d) => void run(d)} />
          {outcome && (
            <div class={`outcome ${outcome.ok ? 'ok' : 'bad'}`} data-testid={`action-result-${a.id}`} data-ok={String(outcome.ok)}>
              <div class="small muted">
                {outcome.ok ? 'answer' : 'error'} · {outcome.ms} ms
              </div>
              {outcome.ok ? <Json value={outcome.value} /> : <div class="error-text">{`${outcome.code}: ${outcome.message}`}</div>}
            </div>
          )}
        </div>
      )}
    </div>
  );
}
