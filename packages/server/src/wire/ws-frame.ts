import { takeLargeFrame } from './large-frames.js';

/**
 * A server-to-client WebSocket text frame (RFC 6455 5.2: FIN, opcode 1, no
 * mask) built in the same buffer as its payload: the header in the first
 * `offset` bytes, the UTF-8 JSON after it.
 *
 * Why: `ws.send` frames a payload by allocating a separate header and writing
 * both under cork/uncork, which Node turns into a writev per send. A fanned-out
 * diff is small and sent to every subscriber, so that machinery is most of its
 * cost. A frame whose header is already in front of its payload goes to the
 * socket as one buffer, one write (gateway/connection.ts sends it through ws's
 * own Sender.sendFrame, as Socket.IO does for broadcasts). The bytes on the
 * wire are those ws.send writes (wire/ws-frame.unit.test.ts compares them).
 */
export class TextFrame {
  constructor(
    /** Header then payload. */
    readonly bytes: Buffer,
    /** Where the payload starts: the header's length. */
    readonly offset: number,
    /**
     * A large frame's buffer goes back to its pool (wire/large-frames.ts) through this, called by the
     * socket's write callback once the frame is written (gateway/connection.ts). Absent: not pooled.
     */
    readonly release?: () => void,
  ) {}

  /** The JSON text as UTF-8 (what a client's message event carries). */
  get payload(): Buffer {
    return this.bytes.subarray(this.offset);
  }
}

/** The header length of a server frame of `payloadLength` bytes (no mask): 2, 4 or 10. */
export function headerLength(payloadLength: number): number {
  return payloadLength > 125 ? (payloadLength > 65535 ? 10 : 4) : 2;
}

/**
 * A buffer of `headerLength(payloadLength) + payloadLength` bytes with the
 * header written; the caller writes the payload from `.offset` on.
 * `sentOnce`: the frame goes straight to one socket and nothing keeps its bytes after the write, so
 * a large one may take a reused buffer (wire/large-frames.ts) and carries `release`.
 */
export function allocTextFrame(payloadLength: number, sentOnce = false): TextFrame {
  const offset = headerLength(payloadLength);
  const large = sentOnce ? takeLargeFrame(offset + payloadLength) : undefined;
  const bytes = large ? large.bytes : allocBytes(offset + payloadLength);
  bytes[0] = 0x81; // FIN + text
  if (offset === 2) bytes[1] = payloadLength;
  else if (offset === 4) {
    bytes[1] = 126;
    bytes.writeUInt16BE(payloadLength, 2);
  } else {
    bytes[1] = 127;
    bytes[2] = bytes[3] = 0;
    bytes.writeUIntBE(payloadLength, 4, 6);
  }
  return new TextFrame(bytes, offset, large?.release);
}

/**
 * Small frames are cut from 64 KiB slabs, as Buffer.allocUnsafe cuts its
 * own from 8 KiB pools: a change fanned out to a thousand subscribers makes
 * a thousand frames of ~150 bytes, and a new 8 KiB pool every ~50 of them
 * was a measurable share of the fanout's CPU. A slab lives while any frame
 * cut from it is still queued on a socket; a congested socket is bounded by
 * the slow-consumer limits (gateway/connection.ts), so what one can pin is too.
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX_PIECE = 2 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

function allocBytes(size: number): Buffer {
  if (size > SLAB_MAX_PIECE) return Buffer.allocUnsafe(size);
  if (slabUsed + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const piece = slab.subarray(slabUsed, slabUsed + size);
  // 8-byte aligned, as Node's pool does.
  slabUsed = (slabUsed + size + 7) & ~7;
  return piece;
}
