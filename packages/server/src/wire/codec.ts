import { isUtf8 } from 'node:buffer';
import { Encoder } from 'cbor-x';
import { ErrorCode } from '@myko/protocol';

/** WIRE.md 1.6: plain CBOR maps as objects, no record extension. */
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
/**
 * The reference TypeScript MykoClient encodes with cbor-x's records extension
 * (`new Encoder({})`) and decodes with `new Decoder({})`, which turns a plain
 * CBOR map into a JS Map: its router reads `message.event` of that Map, finds
 * nothing and drops every plain-map answer. A client that writes records is
 * answered in records. No `structures` are shared between messages, so every
 * message carries its own record definitions and any cbor-x decoder reads it.
 */
const cborRecords = new Encoder({ useRecords: true, mapsAsObjects: true });

/** A frame that opens with a cbor-x record definition (tag 57343, `d9 df ff`): its writer uses records. */
export function usesCborRecords(data: Buffer): boolean {
  return data.length >= 3 && data[0] === 0xd9 && data[1] === 0xdf && data[2] === 0xff;
}

export type Decoded =
  | {
      ok: true;
      value: unknown;
      text?: string;
      /** A CBOR frame as decoded, before narrowing: its 64-bit integers are still BigInts (the ping echo needs them exact). */
      cbor?: unknown;
    }
  | { ok: false; code: ErrorCode; message: string };

/**
 * WIRE.md 6.4: any CBOR integer is legal, and cbor-x decodes one written with
 * an 8-byte argument (the reference client's BigInt timestamps) or a bignum
 * tag as a BigInt, which JSON cannot hold. Past the ping echo, it becomes a
 * number: the same value, to a double's precision, that a JSON client
 * sending it as text gets from JSON.parse, so both encodings reach the same
 * items, hashes and schemas (a string would fail an `integer` field).
 */
const bigintAsNumber = (_key: string, v: unknown) => (typeof v === 'bigint' ? Number(v) : v);

/**
 * Bytes → value. Text frames must be UTF-8 JSON (the socket skips ws's own
 * UTF-8 check so a bad frame gets an error reply instead of a closed
 * connection). Binary frames are CBOR, narrowed to JSON values so both
 * encodings reach the same code with the same shapes.
 */
export function decodeFrame(data: Buffer, isBinary: boolean): Decoded {
  if (!isBinary) {
    if (!isUtf8(data)) return { ok: false, code: ErrorCode.BadJson, message: 'text frame is not valid UTF-8' };
    const text = data.toString('utf8');
    try {
      return { ok: true, value: JSON.parse(text), text };
    } catch (err) {
      return { ok: false, code: ErrorCode.BadJson, message: `invalid JSON: ${(err as Error).message}` };
    }
  }
  let value: unknown;
  try {
    value = cbor.decode(data);
  } catch (err) {
    return { ok: false, code: ErrorCode.BadCbor, message: `invalid CBOR: ${(err as Error).message}` };
  }
  try {
    // Drops undefined members and turns dates into ISO strings, as JSON clients would send them.
    return { ok: true, value: JSON.parse(JSON.stringify(value, bigintAsNumber) ?? 'null'), cbor: value };
  } catch (err) {
    return { ok: false, code: ErrorCode.BadCbor, message: `CBOR value is not representable as JSON: ${(err as Error).message}` };
  }
}

export function encodeCbor(value: unknown, records = false): Buffer {
  return (records ? cborRecords : cbor).encode(value);
}
