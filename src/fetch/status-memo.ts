// The device-local memory of the status the fetch loop gave a message being
// delivered (FetchLoop.stableStatus says why it must not change between a
// crash and the retry). A store batch's memos are one document, written
// before the batch is stored and deleted once every message in it has been
// stored and its incoming document deleted: one memo document per message
// (written, then deleted) cost ~0.35 ms CPU per signed or encrypted message
// in bench/fetch-ingest. Memos are few (messages in flight, or kept by a
// failure), so all of them are read once and then known in memory.
import type { DocumentStore } from '../soledad/types.js';
import type { MessageStatus } from './status-headers.js';

/** One document per write: incoming document id → status; `at` orders two memos of one message. */
const BATCH_TYPE = 'fetch:status-batch';
/** What earlier versions wrote: one document per message (id = incoming document id). */
const SINGLE_TYPE = 'fetch:status';

interface BatchDoc {
  at: number;
  s: Record<string, MessageStatus>;
}

interface Known {
  status: MessageStatus;
  /** The document holding it: a batch document's id, or null for an earlier version's own document. */
  doc: string | null;
  at: number;
}

export class StatusMemoStore {
  private loading: Promise<void> | null = null;
  private readonly byMessage = new Map<string, Known>();
  /** Batch documents → the messages whose memo they still hold. */
  private readonly holders = new Map<string, Set<string>>();
  private last = 0;

  /**
   * `stillIncoming`: which of these incoming documents still exist. A memo
   * matters only while its incoming document does: the others (messages
   * done before a crash let their batch's document go, or done by another
   * device) are dropped when the memos are first read.
   */
  constructor(
    private readonly local: DocumentStore,
    private readonly stillIncoming?: (ids: string[]) => Promise<Set<string>>,
  ) {}

  async get(id: string): Promise<MessageStatus | null> {
    await this.load();
    return this.byMessage.get(id)?.status ?? null;
  }

  /** Remembers several messages' statuses in one write (before they are stored). */
  async put(entries: ReadonlyArray<{ id: string; status: MessageStatus }>): Promise<void> {
    if (entries.length === 0) return;
    await this.load();
    // Strictly increasing, so a later memo of a message wins when both are read at a start.
    const at = (this.last = Math.max(Date.now(), this.last + 1));
    const doc = `${at.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const s: BatchDoc['s'] = {};
    for (const e of entries) s[e.id] = e.status;
    await this.local.put(BATCH_TYPE, doc, { at, s } satisfies BatchDoc);
    for (const e of entries) await this.hold(e.id, { status: e.status, doc, at });
  }

  /** Forgets a message's memo (it is stored and its incoming document deleted); a batch document goes with its last memo. */
  async delete(id: string): Promise<void> {
    await this.load();
    await this.release(id);
  }

  /** Records a memo (a memo written again, for another encryption outcome, replaces the earlier one). */
  private async hold(id: string, known: Known): Promise<void> {
    const before = this.track(id, known);
    if (before) await this.dropIfUnused(id, before);
  }

  private async release(id: string): Promise<void> {
    const known = this.byMessage.get(id);
    if (!known) return;
    this.byMessage.delete(id);
    if (known.doc !== null) this.holders.get(known.doc)?.delete(id);
    await this.dropIfUnused(id, known);
  }

  /** Sets a message's memo in memory; returns the one it replaces, no longer counted as held by its document. */
  private track(id: string, known: Known): Known | undefined {
    const before = this.byMessage.get(id);
    if (before && before.doc !== null) this.holders.get(before.doc)?.delete(id);
    this.byMessage.set(id, known);
    if (known.doc !== null) {
      let set = this.holders.get(known.doc);
      if (!set) this.holders.set(known.doc, (set = new Set()));
      set.add(id);
    }
    return before;
  }

  /** Deletes the document that held `id`'s memo `known`, unless it still holds other memos. */
  private async dropIfUnused(id: string, known: Known): Promise<void> {
    if (known.doc === null) return this.local.delete(SINGLE_TYPE, id);
    await this.dropDocIfEmpty(known.doc);
  }

  /** Deletes a batch document once it holds no memo. */
  private async dropDocIfEmpty(doc: string): Promise<void> {
    if ((this.holders.get(doc)?.size ?? 0) > 0) return;
    this.holders.delete(doc);
    await this.local.delete(BATCH_TYPE, doc);
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      const found: Array<[string, Known]> = [];
      for await (const d of this.local.query<BatchDoc>(BATCH_TYPE)) {
        for (const [id, status] of Object.entries(d.content.s)) found.push([id, { status, doc: d.id, at: d.content.at }]);
        this.last = Math.max(this.last, d.content.at);
      }
      for await (const d of this.local.query<MessageStatus>(SINGLE_TYPE)) found.push([d.id, { status: d.content, doc: null, at: 0 }]);
      const live = this.stillIncoming ? await this.stillIncoming([...new Set(found.map(([id]) => id))]) : null;
      // The latest memo of a message wins; its other memos are dropped from their documents.
      found.sort((a, b) => a[1].at - b[1].at);
      const stale = new Set<string>();
      const seenDocs = new Set<string>();
      for (const [id, known] of found) {
        if (known.doc !== null) seenDocs.add(known.doc);
        if (live && !live.has(id)) {
          if (known.doc === null) stale.add(id);
          continue;
        }
        if (this.track(id, known)?.doc === null) stale.add(id);
      }
      for (const id of stale) await this.local.delete(SINGLE_TYPE, id).catch(() => undefined);
      for (const doc of seenDocs) await this.dropDocIfEmpty(doc).catch(() => undefined);
    })();
    this.loading.catch(() => (this.loading = null)); // a failed read is tried again by the next call
    return this.loading;
  }
}
