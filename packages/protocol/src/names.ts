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
