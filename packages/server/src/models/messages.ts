import { ajv, describeAjvErrors } from '../wire/ajv.js';

/**
 * Messages of the `$` model protocol (seed 002, WIRE.md 3), each schema
 * beside its type. Every message is one JSON object whose `$` says what it is.
 *
 * Client → server: `sub`, `unsub`, `evt` (nested seed form or the flat form
 * of current @rise-tools clients). Server → client: `up`, `evt-res` (in the
 * form of the `evt` it answers) and `error` (ours: the seed has no error message).
 */

const keys = { type: 'array', items: { type: 'string' }, maxItems: 1000 } as const;

export const SubSchema = { type: 'object', required: ['$', 'keys'], properties: { $: { const: 'sub' }, keys } } as const;
export interface Sub {
  $: 'sub';
  keys: string[];
}

export const UnsubSchema = { type: 'object', required: ['$', 'keys'], properties: { $: { const: 'unsub' }, keys } } as const;
export interface Unsub {
  $: 'unsub';
  keys: string[];
}

/** Where the event came from in the client's UI; `key` names the server handler (docs/PROTOCOLS.md). */
export interface EventTarget {
  key?: string;
  component?: string;
  propKey?: string;
  path?: (string | number)[];
}

/**
 * `evt`, both forms. Only `key` is needed to answer; what runs is read from
 * `target.key` and `payload` later, so a bad target still gets its `evt-res`.
 * The seed's nested form carries `event.modelState`; @rise-tools/ws-client
 * 0.3 sends the nested form with `event.dataState`; current @rise-tools
 * clients send the flat form. Model state is never used by the server.
 */
export const EvtSchema = {
  type: 'object',
  required: ['$', 'key'],
  // `event` is checked after: with a readable key, even a bad event is answered by its `evt-res`.
  properties: { $: { const: 'evt' }, key: { type: 'string', minLength: 1 } },
} as const;
export interface NestedEvt {
  $: 'evt';
  key: string;
  event: { modelState?: unknown; dataState?: unknown; payload?: unknown; target?: EventTarget };
}
export interface FlatEvt {
  $: 'evt';
  key: string;
  target?: EventTarget;
  modelState?: unknown;
  payload?: unknown;
}
export type Evt = NestedEvt | FlatEvt;

export interface Up {
  $: 'up';
  key: string;
  val: unknown;
}

/** The seed's answer to a nested `evt`. */
export interface NestedEvtRes {
  $: 'evt-res';
  key: string;
  res: { $: 'response'; payload?: unknown; error?: true; code?: string };
}

/** The answer to a flat `evt`, as current @rise-tools clients expect it. */
export interface FlatEvtRes {
  $: 'evt-res';
  key: string;
  payload?: unknown;
  error?: true;
  code?: string;
}

/** Ours: a message that could not be handled. `key` names the model key or event concerned, when there is one. */
export interface ErrorMessage {
  $: 'error';
  code: string;
  message: string;
  key?: string;
}

export type ServerMessage = Up | NestedEvtRes | FlatEvtRes | ErrorMessage;

const compiled = { sub: ajv.compile(SubSchema), unsub: ajv.compile(UnsubSchema), evt: ajv.compile(EvtSchema) };

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

export function checkMessage<K extends keyof typeof compiled>(
  kind: K,
  value: unknown,
): Checked<K extends 'sub' ? Sub : K extends 'unsub' ? Unsub : Evt> {
  const fn = compiled[kind];
  return fn(value) ? { ok: true, value: value as never } : { ok: false, message: describeAjvErrors(fn.errors, 'message') };
}
