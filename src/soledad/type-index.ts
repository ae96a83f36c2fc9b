// Which stored ids hold which document type. The server sees only HMAC ids
// and the type lives inside the ciphertext, so the index is built in memory:
// one decrypting pass over the store on first use, then each lookup reads the
// changes since the previous one (a stored id never changes type: it is an
// HMAC of type+id, so only ids not seen before need decrypting).
import type { Pouch } from './pouch.js';
import { isSealed } from './doc-crypto.js';

export class TypeIndex {
  private readonly byType = new Map<string, Set<string>>();
  private readonly known = new Set<string>();
  private catchingUp: Promise<void> = Promise.resolve();
  private since: string | number = 0;

  constructor(
    private readonly db: Pouch,
    /** Decrypts a stored doc to its type; null when it is not one of ours or fails integrity. */
    private readonly typeOf: (docId: string, doc: unknown) => string | null,
  ) {}

  /** Records a write we made ourselves (no decryption needed). */
  note(docId: string, type: string): void {
    if (this.known.has(docId)) return;
    this.known.add(docId);
    let set = this.byType.get(type);
    if (!set) this.byType.set(type, (set = new Set()));
    set.add(docId);
  }

  /** Stored ids that have held a document of this type (some may be deleted now). */
  async idsOf(type: string): Promise<string[]> {
    await this.ensureBuilt();
    return [...(this.byType.get(type) ?? [])];
  }

  /** Reads the changes since the last catch-up (the first call scans everything). */
  private ensureBuilt(): Promise<void> {
    this.catchingUp = this.catchingUp.catch(() => undefined).then(() => this.catchUp());
    return this.catchingUp;
  }

  private consider(docId: string, doc: unknown): void {
    if (this.known.has(docId) || !isSealed(doc)) return;
    const type = this.typeOf(docId, doc);
    if (type !== null) this.note(docId, type);
  }

  private async catchUp(): Promise<void> {
    for (;;) {
      const res = await this.db.changes({ since: this.since, limit: 500, include_docs: true });
      for (const r of res.results) this.consider(r.id, r.doc);
      this.since = res.last_seq;
      if (res.results.length < 500) break;
    }
  }
}
