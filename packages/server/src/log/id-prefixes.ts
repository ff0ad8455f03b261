/**
 * The event ids `myko verify` has seen, as their first 64 bits (16 hex
 * digits): open addressing in one typed array, two 32-bit words a slot. A
 * `Set` of prefix strings held a string and an entry per event, a million
 * objects for the collector to walk at every full collection of a large log;
 * this holds none.
 *
 * Only prefixes of lowercase hex ids can be in it (every id verify accepts is a
 * recomputed SHA-256); a string that does not start with 16 such digits is
 * never "seen", as it was never equal to a seen prefix string.
 */
export class IdPrefixes {
  private slots: Uint32Array;
  private mask: number;
  private count = 0;
  /** 0000000000000000 is a possible prefix, and also what an empty slot holds: kept apart. */
  private zero = false;

  /**
   * Sized for `expected` ids (verify knows the log's length), so it does not grow and rehash on the
   * way; up to 4M slots (32 MB) at first, however many are expected, and grown past that.
   */
  constructor(expected = 0) {
    let slots = 1024;
    while (slots < 2 * expected + 2 && slots < 1 << 22) slots *= 2;
    this.slots = new Uint32Array(2 * slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  /** False when `id` starts with no 16 lowercase hex digits. */
  has(id: string): boolean {
    const hi = hexWord(id, 0);
    const lo = hexWord(id, 8);
    if (hi < 0 || lo < 0) return false;
    if (hi === 0 && lo === 0) return this.zero;
    for (let i = lo & this.mask; ; i = (i + 1) & this.mask) {
      const h = this.slots[2 * i]!;
      const l = this.slots[2 * i + 1]!;
      if (h === 0 && l === 0) return false;
      if (h === hi && l === lo) return true;
    }
  }

  /** Adds the prefix of `id` (16 lowercase hex digits at least); false when it was there already. */
  add(id: string): boolean {
    const hi = hexWord(id, 0);
    const lo = hexWord(id, 8);
    if (hi < 0 || lo < 0) throw new Error(`not a hex event id: ${id}`);
    if (hi === 0 && lo === 0) {
      if (this.zero) return false;
      this.zero = true;
      this.count++;
      return true;
    }
    if (!this.put(hi, lo)) return false;
    this.count++;
    if (this.count * 2 > this.mask) this.grow();
    return true;
  }

  private put(hi: number, lo: number): boolean {
    for (let i = lo & this.mask; ; i = (i + 1) & this.mask) {
      const h = this.slots[2 * i]!;
      const l = this.slots[2 * i + 1]!;
      if (h === 0 && l === 0) {
        this.slots[2 * i] = hi;
        this.slots[2 * i + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.put(old[i]!, old[i + 1]!);
  }
}

/** Eight lowercase hex digits of `s` from `at` as an unsigned 32-bit number; -1 when they are not. */
function hexWord(s: string, at: number): number {
  if (typeof s !== 'string' || s.length < at + 8) return -1;
  let n = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}
