/**
 * Buffers for large outgoing frames (a first response of thousands of items), given back once the
 * socket has taken the frame, and reused for the next one.
 *
 * Why: a fresh buffer of megabytes is fresh memory. The allocator maps it from the kernel, so writing
 * the frame into it takes a page fault per 4 KiB page, and freeing it (when V8 next collects its
 * Buffer) hands the pages back. A 2 MB first response of 10,000 items cost 640-690 minor page faults
 * in the server, each time; written into a reused buffer, 160-190 in all, and 0.75-1.66 ms less of a
 * 4.5-5.2 ms response at p50 (bench/RESULTS.md, issue 15, fifteenth part, section 5).
 *
 * A buffer is reused only after `release`, which only the socket's write callback calls
 * (gateway/connection.ts): a frame still queued on a congested socket keeps its bytes, and a frame
 * made but never written (its connection closed) is left to the collector. Release is idempotent.
 * Sizes go by powers of two from 64 KiB to 16 MiB; at most two free buffers are kept per size and
 * 32 MiB in all, so what stays allocated between responses is bounded.
 */
const MIN_BYTES = 64 * 1024;
const MAX_BYTES = 16 * 1024 * 1024;
const FREE_PER_SIZE = 2;
const RETAIN_MAX_BYTES = 32 * 1024 * 1024;

const free = new Map<number, Buffer[]>();
let retainedBytes = 0;

/** The power of two at or above `size`. */
const sizeClass = (size: number): number => 2 ** Math.ceil(Math.log2(size));

export interface LargeFrame {
  /** `size` bytes, at the start of a buffer of the size's class. */
  bytes: Buffer;
  /** Give the buffer back: the frame is written and nothing reads `bytes` any more. */
  release: () => void;
}

/** A reusable buffer for a frame of `size` bytes, or undefined when `size` is outside the pooled range. */
export function takeLargeFrame(size: number): LargeFrame | undefined {
  if (size < MIN_BYTES || size > MAX_BYTES) return undefined;
  const cls = sizeClass(size);
  let whole = free.get(cls)?.pop();
  if (whole) retainedBytes -= cls;
  else whole = Buffer.allocUnsafeSlow(cls);
  const buffer = whole;
  let released = false;
  return {
    bytes: buffer.subarray(0, size),
    release: () => {
      if (released) return;
      released = true;
      giveBack(cls, buffer);
    },
  };
}

function giveBack(cls: number, buffer: Buffer): void {
  let list = free.get(cls);
  if (!list) free.set(cls, (list = []));
  if (list.length >= FREE_PER_SIZE || retainedBytes + cls > RETAIN_MAX_BYTES) return;
  list.push(buffer);
  retainedBytes += cls;
}

/** Bytes kept for reuse now (tests, and the bound above). */
export function largeFramesRetained(): number {
  return retainedBytes;
}
