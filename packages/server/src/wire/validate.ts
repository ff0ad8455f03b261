import {
  MCommandErrorSchema,
  MCommandResponseSchema,
  MCommandSchema,
  MEventSchema,
  MQueryCursorWindowSchema,
  MQuerySchema,
  MQueryWindowSchema,
  MViewSchema,
  MReportSchema,
  type MCommand,
  type MQuery,
  type MQueryCursorWindow,
  type MQueryWindow,
  type MView,
  type MReport,
} from '@myko/protocol';
import type { RawEvent } from '../core/normalize.js';
import { ajv, describeAjvErrors } from './ajv.js';

/** Compiled once from the protocol package's schemas. */
const compiled = {
  event: ajv.compile(MEventSchema),
  query: ajv.compile(MQuerySchema),
  queryWindow: ajv.compile(MQueryWindowSchema),
  queryCursorWindow: ajv.compile(MQueryCursorWindowSchema),
  view: ajv.compile(MViewSchema),
  report: ajv.compile(MReportSchema),
  command: ajv.compile(MCommandSchema),
  commandResponse: ajv.compile(MCommandResponseSchema),
  commandError: ajv.compile(MCommandErrorSchema),
};

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

function check<T>(name: keyof typeof compiled, value: unknown, root: string): Checked<T> {
  const fn = compiled[name];
  return fn(value) ? { ok: true, value: value as T } : { ok: false, message: describeAjvErrors(fn.errors, root) };
}

export const checkEvent = (v: unknown, root = 'data') => check<RawEvent & { clientId?: string }>('event', v, root);
export const checkQuery = (v: unknown) => check<MQuery>('query', v, 'data');
export const checkQueryWindow = (v: unknown) => check<MQueryWindow>('queryWindow', v, 'data');
export const checkQueryCursorWindow = (v: unknown) => check<MQueryCursorWindow>('queryCursorWindow', v, 'data');
export const checkView = (v: unknown) => check<MView>('view', v, 'data');
export const checkReport = (v: unknown) => check<MReport>('report', v, 'data');
export const checkCommand = (v: unknown) => check<MCommand>('command', v, 'data');
export const checkCommandResponse = (v: unknown) => check<{ tx: string; response?: unknown }>('commandResponse', v, 'data');
export const checkCommandError = (v: unknown) =>
  check<{ tx: string; commandId?: string; message?: string }>('commandError', v, 'data');
