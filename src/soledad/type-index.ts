// Which stored ids hold which document type. The server sees only HMAC ids
// and the type lives inside the ciphertext, so the index is kept on the
// device, in its own LevelDB (never replicated): one entry per stored id,
//   _id: "<ns>/<type tag>/<stored id>"   (type tag = HMAC(idKey, type), truncated)
// so a query by type is one key-range read. The disk sees which documents
// share a type, never the type's name. The index is brought up to date from
// the changes feed since a checkpoint before each lookup: our own writes are
// noted in memory (no decryption), documents that arrived by sync are
// decrypted once. A stored id never changes type (it is an HMAC of type+id).
import crypto from 'node:crypto';
import type { Pouch } from './pouch.js';
import { isSealed } from './doc-crypto.js';

const PAGE = 500;
const NOTED_FLUSH = 2000;
const MAX_EXTRA_PASSES = 50;

export class TypeIndex {
  /** Stored ids written or seen by this process whose entry may not be persisted yet. */
  private readonly noted = new Map<string, string>();
  private catchingUp: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Pouch,
    private readonly indexDb: Pouch,
    private readonly ns: string,
    private readonly idKey: Buffer,
    /** Decrypts a stored doc to its type; null when it is not one of ours or fails integrity. */
    private readonly typeOf: (docId: string, doc: unknown) => string | null,
  ) {}

  private tag(type: string): string {
    return crypto.createHmac('sha256', this.idKey).update(`type-index\u0000${type}`).digest('hex').slice(0, 24);
  }

  private get checkpointId(): string {
    return `_local/checkpoint-${this.ns}`;
  }

  /** Records a write we made ourselves (persisted at the next catch-up, without decrypting). */
  note(docId: string, type: string): void {
    // Only a hint (a missing one costs a decryption), so a runaway map is simply dropped.
    if (this.noted.size >= 10 * NOTED_FLUSH) this.noted.clear();
    this.noted.set(docId, type);
    // Keep memory bounded and the checkpoint fresh during long write runs.
    if (this.noted.size === NOTED_FLUSH) void this.flush().catch(() => undefined);
  }

  /** Brings the persisted index up to date (also called on close). */
  flush(): Promise<void> {
    this.catchingUp = this.catchingUp.catch(() => undefined).then(() => this.catchUp());
    return this.catchingUp;
  }

  /** Stored ids that have held a document of this type (some may be deleted now). */
  async idsOf(type: string): Promise<string[]> {
    await this.flush();
    const prefix = `${this.ns}/${this.tag(type)}/`;
    const res = await this.indexDb.allDocs({ startkey: prefix, endkey: `${prefix}\uffff` });
    return res.rows.map((r) => r.id.slice(prefix.length));
  }

  private async catchUp(): Promise<void> {
    // Read up to at least the last write made before this catch-up began. A
    // single changes() pass is not enough: PouchDB's LevelDB adapter reads a
    // snapshot of the by-sequence store but the live doc metadata, and skips an
    // entry whose document was rewritten after the snapshot; the rewrite's
    // entry lies beyond the snapshot, so that pass ends without the document
    // (an existing doc updated during a query went missing from it). A further
    // pass from the same point finds the rewrite.
    const target = Number((await this.db.info()).update_seq);
    let since: string | number = 0;
    let checkpointRev: string | undefined;
    try {
      const cp = (await this.indexDb.get(this.checkpointId)) as unknown as { _rev: string; seq: string | number };
      since = cp.seq;
      checkpointRev = cp._rev;
    } catch {
      // first run: index everything
    }
    let extraPasses = 0;
    for (;;) {
      const res = await this.db.changes({ since, limit: PAGE });
      const entries = new Map<string, string>();
      const unknown: string[] = [];
      for (const r of res.results) {
        const type = this.noted.get(r.id);
        if (type !== undefined) {
          entries.set(r.id, type);
          this.noted.delete(r.id);
        }
        else if (!r.deleted) unknown.push(r.id);
      }
      if (unknown.length > 0) {
        const docs = await this.db.allDocs({ keys: unknown, include_docs: true });
        for (const row of docs.rows) {
          const doc = 'doc' in row ? row.doc : undefined;
          if (!doc || !isSealed(doc)) continue;
          const type = this.typeOf(row.key, doc);
          if (type !== null) entries.set(row.key, type);
        }
      }
      if (entries.size > 0) {
        // Existing entries answer 409, which is fine: an id's type never changes.
        await this.indexDb.bulkDocs([...entries].map(([docId, type]) => ({ _id: `${this.ns}/${this.tag(type)}/${docId}` })));
      }
      const advanced = res.last_seq !== since;
      since = res.last_seq;
      if (advanced || entries.size > 0) {
        const saved = await this.indexDb.put({ _id: this.checkpointId, _rev: checkpointRev, seq: since } as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
        checkpointRev = saved.rev;
      }
      if (res.results.length >= PAGE) continue;
      // Bounded: a document rewritten on every pass cannot hold the caller forever.
      if (!(Number(since) < target) || ++extraPasses > MAX_EXTRA_PASSES) break;
    }
  }
}
