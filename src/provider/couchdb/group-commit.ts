// Group commit for the embedded server's in-process writes (the MX's hot
// path). PouchDB's LevelDB adapter runs one bulkDocs at a time per database
// (a write lock), and each costs a document read, an attachment-ref read, a
// LevelDB batch and a wake-up of every live _changes feed on that database.
// Writes that arrive while one is in flight therefore wait anyway: here they
// wait in our queue instead and then go together as one bulkDocs. A write to
// an idle database starts at once (no timer, no added latency).
//
// Attachment bytes are handed to PouchDB as plain Uint8Array views: its
// promise wrappers deep-clone every argument and copy each Buffer they find
// on the way (a whole extra ciphertext per call), while a plain typed array
// passes through as is; the adapter hashes and stores it the same way.

interface Waiting {
  doc: object;
  resolve(rev: string): void;
  reject(err: unknown): void;
}

/** Most documents per bulkDocs: keeps one commit's JSON and LevelDB batch reasonable. */
const MAX_GROUP = 64;

/** A Buffer attachment as a plain Uint8Array over the same memory (no copy). */
function withPlainAttachments(doc: Record<string, unknown>): Record<string, unknown> {
  const atts = doc._attachments as Record<string, { data?: unknown }> | undefined;
  if (!atts) return doc;
  const plain: Record<string, unknown> = {};
  for (const [name, att] of Object.entries(atts)) {
    const data = att.data;
    plain[name] = Buffer.isBuffer(data) ? { ...att, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) } : att;
  }
  return { ...doc, _attachments: plain };
}

export class GroupCommit {
  private readonly queues = new Map<string, Waiting[]>();

  /**
   * `open(db)` resolves the database (or rejects, e.g. 404); `toError` turns a
   * failed result or exception into the caller's error type.
   */
  constructor(
    private readonly open: (db: string) => Promise<PouchDB.Database>,
    private readonly toError: (err: unknown) => Error,
  ) {}

  /** Creates or updates one document; resolves with its new rev once its group is committed. */
  put(db: string, doc: Record<string, unknown>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const queued = this.queues.get(db);
      const waiting = { doc: withPlainAttachments(doc), resolve, reject };
      if (queued) {
        queued.push(waiting);
        return;
      }
      this.queues.set(db, [waiting]);
      void this.drain(db);
    });
  }

  /** Commits the database's queue, group after group, until it is empty. */
  private async drain(db: string): Promise<void> {
    const queue = this.queues.get(db)!;
    while (queue.length > 0) await this.commit(db, queue.splice(0, MAX_GROUP));
    this.queues.delete(db);
  }

  private async commit(db: string, group: Waiting[]): Promise<void> {
    let results: unknown[];
    try {
      results = await (await this.open(db)).bulkDocs(group.map((w) => w.doc as PouchDB.Core.PutDocument<object>));
    } catch (err) {
      // PouchDB refuses a whole call for one malformed document (e.g. a
      // reserved _id): each then goes alone, so only that one fails.
      if (group.length > 1) {
        for (const w of group) await this.commit(db, [w]);
      } else group[0]!.reject(this.toError(err));
      return;
    }
    group.forEach((w, i) => {
      // A document that failed is reported in place: { error: true, status, name, message }.
      const r = results[i] as Partial<PouchDB.Core.Response & PouchDB.Core.Error> | undefined;
      if (r && !r.error && r.rev) w.resolve(r.rev);
      else w.reject(this.toError(r ?? new Error('no result for the document')));
    });
  }
}
