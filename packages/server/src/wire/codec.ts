import { isUtf8 } from 'node:buffer';
import { Encoder } from 'cbor-x';
import { ErrorCode } from '@myko/protocol';

/** WIRE.md 1.6: plain CBOR maps as objects, no record extension. */
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export type Decoded = { ok: true; value: unknown; text?: string } | { ok: false; code: ErrorCode; message: string };

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
    return { ok: true, value: JSON.parse(JSON.stringify(value) ?? 'null') };
  } catch (err) {
    return { ok: false, code: ErrorCode.BadCbor, message: `CBOR value is not representable as JSON: ${(err as Error).message}` };
  }
}

export function encodeCbor(value: unknown): Buffer {
  return cbor.encode(value);
}
