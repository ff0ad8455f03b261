/**
 * Names of the built-in queries and reports per item type (WIRE.md 1.3). The
 * plural is the type name plus "s", verbatim: `TargetStatus` gives
 * `GetTargetStatussByQuery`, as the reference clients spell it.
 */
export const builtinQueryIds = (itemType: string) => ({
  all: `GetAll${itemType}s`,
  byIds: `Get${itemType}sByIds`,
  byQuery: `Get${itemType}sByQuery`,
});

/** `GetTargetsCount` → `Target`; undefined when the id is not of that form. */
export function itemTypeOfCountReport(reportId: string): string | undefined {
  const m = /^Get(.+)sCount$/.exec(reportId);
  return m?.[1];
}

export const countReportId = (itemType: string) => `Get${itemType}sCount`;

/**
 * The per-type built-ins the reference server generates (WIRE.md 6.5): live
 * reports `CountAll{X}s`, `Count{X}s {...query}`, `Get{X}ById {id}`, and
 * commands `Delete{X} {id}`, `Delete{X}s {ids}`.
 */
export const perTypeBuiltinIds = (itemType: string) => ({
  countAll: `CountAll${itemType}s`,
  count: `Count${itemType}s`,
  getById: `Get${itemType}ById`,
  delete: `Delete${itemType}`,
  deleteMany: `Delete${itemType}s`,
});

/**
 * A report id of the per-type built-ins, parsed. `CountAll…s` is tried before
 * `Count…s`, so `CountAllCues` counts every Cue (a type named `AllCue` is
 * reached with `Count{X}s` only when it has no other reading).
 */
export function parsePerTypeReport(reportId: string): { kind: 'countAll' | 'count' | 'getById'; itemType: string } | undefined {
  let m = /^CountAll(.+)s$/.exec(reportId);
  if (m) return { kind: 'countAll', itemType: m[1]! };
  m = /^Count(.+)s$/.exec(reportId);
  if (m) return { kind: 'count', itemType: m[1]! };
  m = /^Get(.+)ById$/.exec(reportId);
  if (m) return { kind: 'getById', itemType: m[1]! };
  return undefined;
}

/** Framework built-ins of the reference server (WIRE.md 6.5): queries, reports and commands about servers and clients. */
export const FrameworkQuery = { PeerServers: 'GetPeerServers', ConnectedServer: 'GetConnectedServer' } as const;
export const FrameworkReport = { ServerStats: 'ServerStats', ClientStatus: 'ClientStatus', WindbackStatus: 'WindbackStatus' } as const;
export const FrameworkCommand = { SetClientWindbackTime: 'SetClientWindbackTime', ClearClientWindbackTime: 'ClearClientWindbackTime' } as const;
