import type { MItem, QueryWindow } from '@myko/protocol';
import type { Subscriber } from './subscriber.js';
import { sortedInsert, sortedRemove } from './sorted-ids.js';
import { pageOf, type Page } from './result-page.js';
import { diffFrame, diffHead, diffText, seedResultFrame, seedResultText, type DiffHead, type DiffParts } from '../wire/frames.js';

/**
 * The wire side of one live result of one connection, shared by queries and
 * views: the set of ids in the result (and, when windowed, those ids in
 * order), and between flushes which ids were touched and whether each was in
 * the result the client last saw. A flush turns that into one response: for
 * the current dialect a diff, for the seed dialect the whole result. Pending
 * state is bounded by the number of distinct ids, however many changes arrive:
 * that is the coalescing for slow readers.
 *
 * Windowed (WIRE.md 6.2): every response carries `changes: [{kind:
 * "windowOrder", ids, total_count, window}]`, `deletes` means "left the page",
 * and removing the window answers with a fresh sequence-0 full result.
 */
export abstract class ResultStream {
  readonly members = new Set<string>();
  private sorted: string[] | undefined;
  /**
   * The ids touched since the last response, in order, each with whether it was in the result the client
   * last saw (TouchedIds, below): one change fanned out to a thousand results touches one id of each, so
   * the first id is held in two fields and a Map is made only for a second one.
   */
  private readonly touched = new TouchedIds();
  /** Windowed: the ids of the page the client last saw. */
  private sentPage: string[] = [];
  /** The totalCount of the last response: a paged client shows it, so a change of it alone is sent. */
  private sentTotal = 0;
  sequence = 0;
  /** The text of every diff up to its sequence number (made at the first diff; kind and tx never change). */
  private head: DiffHead | undefined;

  constructor(
    readonly conn: Subscriber,
    readonly tx: string,
    /** `query` answers with `ws:m:query-response`, `view` with `ws:m:view-response`. */
    readonly responseKind: 'query' | 'view',
    /** The `itemType` of every upsert. */
    readonly itemType: string,
    public page: Page | undefined,
  ) {}

  /** The item of a member id as it is now. */
  protected abstract lookup(id: string): MItem | undefined;

  get window(): QueryWindow | undefined {
    return this.page?.kind === 'offset' ? this.page.window : undefined;
  }

  get pending(): boolean {
    return this.touched.size !== 0;
  }

  /** Order the members for paging; call once the initial members are in. */
  protected membersLoaded(): void {
    this.sorted = this.page ? [...this.members].sort() : undefined;
  }

  /**
   * Record that `id` changed and is (`nowIn`) or is not in the result.
   * Returns true when the client may need to hear of it.
   */
  protected mark(id: string, nowIn: boolean): boolean {
    const wasIn = this.members.has(id);
    if (!wasIn && !nowIn) return false;
    this.touched.add(id, wasIn);
    if (wasIn && !nowIn) {
      this.members.delete(id);
      if (this.sorted) sortedRemove(this.sorted, id);
    } else if (!wasIn && nowIn) {
      this.members.add(id);
      if (this.sorted) sortedInsert(this.sorted, id);
    }
    return true;
  }

  /** Forget the result (members, order, what the client saw) before it is loaded again from another state. */
  protected resetMembers(): void {
    this.members.clear();
    this.touched.clear();
    this.sentPage = [];
    this.sorted = undefined;
  }

  /**
   * Sequence 0: the whole result, or the page. The first response, and the answer to removing a window.
   * `items`, when given, are the members' items in the members' order, just read from state by the
   * caller (QuerySubscription.load): an unpaged result then looks none of them up again, and is
   * counted from them (QuerySubscription fills `members` of an unpaged result after this send).
   */
  protected sendSnapshot(items?: MItem[]): void {
    this.touched.clear();
    this.sequence = 0;
    if (this.conn.dialect === 'seed') return this.sendSeed(items);
    if (!this.page && items) {
      this.sentPage = [];
      // `items` are the members, counted here: the caller may add their ids to `members` only after this send.
      return this.sendItems(items, [], items.length);
    }
    const ids = this.page ? this.slice() : [...this.members];
    this.sentPage = this.page ? ids : [];
    this.sendDiff(ids, []);
  }

  /** Send what changed since the last response; nothing when nothing visible changed. */
  protected sendChanges(): void {
    if (this.touched.size === 0) return;
    if (this.conn.dialect === 'seed') {
      let visible = false;
      this.touched.forEach((id, wasIn) => {
        if (wasIn || this.members.has(id)) visible = true;
      });
      this.touched.clear();
      if (visible) this.sendSeed();
      return;
    }
    let upserts: string[];
    let deletes: string[];
    if (this.page) {
      const slice = this.slice();
      const inSlice = new Set(slice);
      const sent = new Set(this.sentPage);
      deletes = this.sentPage.filter((id) => !inSlice.has(id));
      upserts = slice.filter((id) => !sent.has(id) || this.touched.has(id));
      this.sentPage = slice;
    } else {
      const now: string[] = [];
      const gone: string[] = [];
      this.touched.forEach((id, wasIn) => {
        if (this.members.has(id)) now.push(id);
        else if (wasIn) gone.push(id);
      });
      upserts = now;
      deletes = gone;
    }
    this.touched.clear();
    // Unpaged, the client counts what it holds; paged, it shows totalCount, which items outside the page change
    // (as the reference server does, a response with only the new count and the page order is sent then).
    if (upserts.length === 0 && deletes.length === 0 && (!this.page || this.members.size === this.sentTotal)) return;
    this.sequence++;
    this.sendDiff(upserts, deletes);
  }

  /**
   * Move the page (always answered: it is a request). Removing it answers with
   * a fresh sequence 0, the whole result: the client's partial copy is replaced.
   */
  protected changePage(page: Page | undefined): void {
    if (!page) {
      this.page = undefined;
      this.sorted = undefined;
      this.sentPage = [];
      return this.sendSnapshot();
    }
    const before = this.page ? this.sentPage : [...this.members];
    this.page = page;
    this.sorted ??= [...this.members].sort();
    const now = this.slice();
    const had = new Set(before);
    const has = new Set(now);
    const upserts = now.filter((id) => !had.has(id) || this.touched.has(id));
    const deletes = before.filter((id) => !has.has(id));
    this.sentPage = now;
    this.touched.clear();
    if (this.conn.dialect === 'seed') return this.sendSeed();
    this.sequence++;
    this.sendDiff(upserts, deletes);
  }

  private slice(): string[] {
    return pageOf(this.sorted!, this.page!);
  }

  private sendDiff(ids: string[], deletes: string[]): void {
    const items: MItem[] = [];
    for (const id of ids) {
      const item = this.lookup(id);
      if (item) items.push(item);
    }
    this.sendItems(items, deletes);
  }

  private sendItems(items: MItem[], deletes: string[], total = this.members.size): void {
    this.sentTotal = total;
    const parts: DiffParts = {
      kind: this.responseKind,
      tx: this.tx,
      sequence: this.sequence,
      itemType: this.itemType,
      upserts: items,
      deletes,
      totalCount: total,
      window: this.window,
      order: this.page ? this.sentPage : undefined,
    };
    const head = (this.head ??= diffHead(this.responseKind, this.tx));
    this.conn.send(
      () => diffFrame(parts),
      // Sent once, straight to the socket (Subscriber.send): a large frame may take a reused buffer.
      () => diffText(parts, head, true),
    );
  }

  private sendSeed(loaded?: MItem[]): void {
    let items = loaded;
    if (!items) {
      items = [];
      for (const id of this.members) {
        const item = this.lookup(id);
        if (item) items.push(item);
      }
    }
    const kind = this.responseKind;
    this.conn.send(
      () => seedResultFrame(this.tx, this.itemType, items!, kind),
      () => seedResultText(this.tx, this.itemType, items!, kind, true),
    );
  }
}

/**
 * The ids touched since a result's last response, in the order first touched, each with whether it was
 * in the result the client last saw: a Map's behaviour for what the diff needs (add keeps the first
 * `wasIn`, iteration in insertion order). The first id lives in two fields; a Map holds the others, made
 * only when a second distinct id comes. A Map per result cost a table, an entry array per iteration and
 * a fresh table per clear, for every subscriber of every change.
 */
class TouchedIds {
  private firstId: string | undefined;
  private firstWasIn = false;
  private more: Map<string, boolean> | undefined;

  get size(): number {
    return this.firstId === undefined ? 0 : 1 + (this.more?.size ?? 0);
  }

  has(id: string): boolean {
    return id === this.firstId || (this.more !== undefined && this.more.has(id));
  }

  /** Record `id` unless already touched (its first `wasIn` stands). */
  add(id: string, wasIn: boolean): void {
    if (this.firstId === undefined) {
      this.firstId = id;
      this.firstWasIn = wasIn;
    } else if (id !== this.firstId) {
      const more = (this.more ??= new Map());
      if (!more.has(id)) more.set(id, wasIn);
    }
  }

  forEach(fn: (id: string, wasIn: boolean) => void): void {
    if (this.firstId === undefined) return;
    fn(this.firstId, this.firstWasIn);
    if (this.more !== undefined) for (const [id, wasIn] of this.more) fn(id, wasIn);
  }


  clear(): void {
    this.firstId = undefined;
    this.more = undefined;
  }
}
