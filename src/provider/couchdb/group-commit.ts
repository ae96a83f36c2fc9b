// Group commit for the embedded server's in-process writes (the MX's hot
// path). PouchDB's LevelDB adapter runs one bulkDocs at a time per database
// (a write lock), and each costs a document read, an attachment-ref read, a
// LevelDB batch and a wake-up of every live _changes feed on that database.
// Writes that arrive while one is in flight therefore wait anyway: here they
// wait in our queue instead and then go together as one bulkDocs. A write to
// an idle database starts at once (no timer, no added latency).
//
// Attachment bytes are handed to PouchDB as plain Uint8Array views, not
// copied again by its argument clone (src/util/pouch-bytes.ts).
import { pouchBytes } from '../../util/pouch-bytes.js';

interface Waiting {
  doc: object;
  /** Attachment bytes the document carries. */
  bytes: number;
  resolve(rev: string): void;
  reject(err: unknown): void;
}

// A group's LevelDB batch holds a copy of all its attachments at once, so
// groups are bounded in bytes as well as in documents (a larger document
// goes alone, as it would without grouping).
const MAX_GROUP = 64;
const MAX_GROUP_BYTES = 8 * 1024 * 1024;

/** The document with Buffer attachments as plain Uint8Array views over the same memory (no copy), and their size. */
function withPlainAttachments(doc: Record<string, unknown>): { doc: Record<string, unknown>; bytes: number } {
  const atts = doc._attachments as Record<string, { data?: unknown }> | undefined;
  if (!atts) return { doc, bytes: 0 };
  const plain: Record<string, unknown> = {};
  let bytes = 0;
  for (const [name, att] of Object.entries(atts)) {
    const data = att.data;
    if (data instanceof Uint8Array) bytes += data.byteLength;
    else if (typeof data === 'string') bytes += data.length;
    plain[name] = Buffer.isBuffer(data) ? { ...att, data: pouchBytes(data) } : att;
  }
  return { doc: { ...doc, _attachments: plain }, bytes };
}

/** How many of the queue's first documents make the next group (at least one). */
function groupLength(queue: Waiting[]): number {
  let n = 0;
  let bytes = 0;
  while (n < queue.length && n < MAX_GROUP) {
    bytes += queue[n]!.bytes;
    if (n > 0 && bytes > MAX_GROUP_BYTES) break;
    n++;
  }
  return n;
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
      const waiting = { ...withPlainAttachments(doc), resolve, reject };
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
    while (queue.length > 0) await this.commit(db, queue.splice(0, groupLength(queue)));
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
