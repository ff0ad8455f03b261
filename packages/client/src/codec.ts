import { Encoder } from 'cbor-x';

/** One frame on the wire (WIRE.md 1): `{event, data}`; some server frames add a top-level `tx`. */
export interface WireFrame {
  event: string;
  data: unknown;
  tx?: string;
}

/** WIRE.md 1.6: plain CBOR maps as objects, no records extension, the same settings as the server. */
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

export function encodeFrame(encoding: 'json' | 'cbor', frame: WireFrame): string | Uint8Array {
  return encoding === 'cbor' ? cbor.encode(frame) : JSON.stringify(frame);
}

/**
 * Text frames are JSON and binary frames CBOR, whatever we send: the server
 * switches to CBOR only after our first binary frame, so a CBOR client still
 * gets its first frames (the client id) as text.
 */
export function decodeFrame(data: string | Uint8Array): WireFrame | undefined {
  const value: unknown = typeof data === 'string' ? JSON.parse(data) : cbor.decode(data);
  if (typeof value !== 'object' || value === null || typeof (value as WireFrame).event !== 'string') return undefined;
  return value as WireFrame;
}
