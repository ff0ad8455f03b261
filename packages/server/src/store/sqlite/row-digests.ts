/**
 * The SHA-256 of every snapshot row (checkpoint.ts: `myko_state` and
 * `myko_leaves`), kept in memory so a checkpoint XORs a replaced row out of the
 * digest without reading the row back and hashing it again: a checkpoint then
 * hashes only the rows it writes (issue 15). Filled by the boot's load, which
 * hashes every row anyway, and kept current by each checkpoint.
 *
 * It is a cache of what the rows give, trusted only while it is `complete` and
 * its sum equals the digest saved in the store: a checkpoint that failed (its
 * transaction rolled back, maybe inside an outer one) leaves it incomplete, and
 * the next checkpoint rebuilds it from the rows.
 *
 * 32 bytes per row in one growing slab, a slot number per row in the maps:
 * far less than a Buffer or a hex string per row.
 */
export type RowKind = 'S' | 'L';

export interface RowDigestsState {
  bytes: Uint8Array;
  used: number;
  free: number[];
  rows: Record<RowKind, Map<string, Map<string, number>>>;
  sum: Uint32Array;
  complete: boolean;
}

const BYTES = 32;
const WORDS = BYTES / 4;

export class RowDigests {
  /** One slot of 32 bytes per row, seen as bytes (to write a hex digest in) and as 32-bit words (to XOR). */
  private bytes = Buffer.alloc(BYTES * 1024);
  private words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length / 4);
  private used = 0;
  private readonly free: number[] = [];
  private readonly rows: Record<RowKind, Map<string, Map<string, number>>> = { S: new Map(), L: new Map() };
  /** XOR of every row's hash: the snapshot digest the rows give. */
  private readonly sum = new Uint32Array(WORDS);
  /** Holds every row, as stored. */
  complete = false;

  /** Empty, as after clearing both tables. */
  reset(): void {
    this.rows.S.clear();
    this.rows.L.clear();
    this.free.length = 0;
    this.used = 0;
    this.sum.fill(0);
    this.complete = true;
  }

  /** Everything, as plain data a worker can be sent (thread.ts hands the boot's hashes to the store thread). */
  export(): RowDigestsState {
    return {
      bytes: this.bytes.subarray(0, this.used * BYTES),
      used: this.used,
      free: this.free,
      rows: { S: this.rows.S, L: this.rows.L },
      sum: this.sum,
      complete: this.complete,
    };
  }

  /** Take over what `export` gave (possibly in another thread, after a structured clone). */
  static from(state: RowDigestsState): RowDigests {
    const d = new RowDigests();
    d.bytes = Buffer.alloc(Math.max(BYTES * 1024, state.bytes.length));
    d.bytes.set(state.bytes);
    d.words = new Uint32Array(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length / 4);
    d.used = state.used;
    // Not push(...free): a log with many deleted items frees more slots than a call takes arguments.
    for (const slot of state.free) d.free.push(slot);
    for (const k of ['S', 'L'] as const) for (const [t, ids] of state.rows[k]) d.rows[k].set(t, new Map(ids));
    d.sum.set(state.sum);
    d.complete = state.complete;
    return d;
  }

  /** The digest of the rows, hex (as saved in myko_meta). */
  digest(): string {
    return Buffer.from(this.sum.buffer, this.sum.byteOffset, BYTES).toString('hex');
  }

  has(kind: RowKind, itemType: string, id: string): boolean {
    return this.rows[kind].get(itemType)?.has(id) ?? false;
  }

  /** The row was written with this hash (hex SHA-256): the old row's hash (if any) leaves the sum, the new one enters it. */
  set(kind: RowKind, itemType: string, id: string, hexHash: string): void {
    let ids = this.rows[kind].get(itemType);
    if (!ids) this.rows[kind].set(itemType, (ids = new Map()));
    let slot = ids.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.grow();
      ids.set(id, slot);
    } else this.xorSlot(slot);
    // Decoded straight into the slot: no Buffer per hash (allocating one costs more than the hash).
    if (this.bytes.write(hexHash, slot * BYTES, BYTES, 'hex') !== BYTES) throw new Error('row digest: not a hex SHA-256');
    this.xorSlot(slot);
  }

  /** The row was deleted. */
  delete(kind: RowKind, itemType: string, id: string): void {
    const ids = this.rows[kind].get(itemType);
    const slot = ids?.get(id);
    if (slot === undefined) return;
    this.xorSlot(slot);
    ids!.delete(id);
    if (ids!.size === 0) this.rows[kind].delete(itemType);
    this.free.push(slot);
  }

  private grow(): number {
    if ((this.used + 1) * BYTES > this.bytes.length) {
      const bigger = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(bigger);
      this.bytes = bigger;
      this.words = new Uint32Array(bigger.buffer, bigger.byteOffset, bigger.length / 4);
    }
    return this.used++;
  }

  private xorSlot(slot: number): void {
    const at = slot * WORDS;
    const w = this.words;
    const s = this.sum;
    for (let i = 0; i < WORDS; i++) s[i]! ^= w[at + i]!;
  }
}
