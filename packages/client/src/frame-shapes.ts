import { Kind } from '@myko/protocol';

/**
 * What the router needs of each incoming frame kind's `data`, checked before
 * it is used: a frame from a buggy server, a proxy or another server version
 * must become an error the app can see (`onError`), not a TypeError thrown out
 * of the socket's message handler (an uncaught exception: the app gone).
 * Found by test/fuzz.int.test.ts. Returns what is wrong, or undefined.
 */
export function frameProblem(event: string, data: unknown): string | undefined {
  switch (event) {
    case Kind.QueryResponse:
    case Kind.ViewResponse:
      return (
        need(data, { tx: isString }) ??
        field(data, 'sequence', isCount) ??
        field(data, 'totalCount', isCount) ??
        field(data, 'upserts', (v) => Array.isArray(v) && v.every((u) => isObject(u) && isObject(u.item) && isString(u.item.id)), 'an array of {item: {id}}') ??
        field(data, 'deletes', (v) => Array.isArray(v) && v.every(isString), 'an array of ids') ??
        optional(data, 'window', (v) => v === null || isObject(v), 'an object') ??
        optional(data, 'changes', (v) => Array.isArray(v) && v.every((c) => isObject(c) && (c.kind !== 'windowOrder' || (Array.isArray(c.ids) && c.ids.every(isString)))), 'an array of changes')
      );
    case Kind.QueryError:
    case Kind.ViewError:
    case Kind.ReportError:
    case Kind.ReportResponse:
    case Kind.CommandResponse:
    case Kind.CommandError:
      return need(data, { tx: isString }) ?? optional(data, 'message', isString, 'a string');
    case Kind.Command:
      return need(data, { commandId: isString, command: isObject }) ?? need((data as { command: unknown }).command, { tx: isString }, 'data.command');
    case Kind.Error:
      return need(data, { message: isString }) ?? optional(data, 'tx', isString, 'a string');
    default:
      return undefined; // kinds the router ignores
  }
}

type Obj = Record<string, any>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

function need(data: unknown, fields: Record<string, (v: unknown) => boolean>, where = 'data'): string | undefined {
  if (!isObject(data)) return `${where} must be an object`;
  for (const [k, ok] of Object.entries(fields)) if (!ok(data[k])) return `${where}.${k} is missing or has the wrong type`;
  return undefined;
}

function field(data: unknown, k: string, ok: (v: unknown) => boolean, what = 'a non-negative integer'): string | undefined {
  return ok((data as Obj)[k]) ? undefined : `data.${k} must be ${what}`;
}

function optional(data: unknown, k: string, ok: (v: unknown) => boolean, what: string): string | undefined {
  const v = (data as Obj)[k];
  return v === undefined || ok(v) ? undefined : `data.${k} must be ${what}`;
}
