// Replication whose memory is bounded by bytes, not by documents.
//
// PouchDB's replicator (pouchdb 9, replicate.js) counts a batch in documents
// (batch_size): for each batch it reads every missing document's attachments
// at once (getDocs: one getAttachment per attachment, all in parallel) and
// writes the whole batch in one bulkDocs, which over HTTP is one JSON body
// with every attachment in base64. A batch of 100 blob chunk documents is
// then 100 chunks held at once, plus ~3 copies of their base64 on a push
// (the strings, the JSON, the request body): at 128 KiB chunks a 25 MB
// round trip grew RSS by ~75 MB. A batch of small documents (most mail: a
// blob head with the whole message, an entry, a structure) wants the 100,
// though: every batch is a changes read, a revs_diff, a bulk get, a write
// and two checkpoint writes.
//
// So the batch stays counted in documents, and its attachment data is read
// and written in slices: the replicator is given views of the two databases
// whose getAttachment answers a placeholder (the attachment's length, taken
// from the stub the same batch's bulkGet returned, and how to read it), and
// whose bulkDocs reads the placeholders' data slice by slice, each slice at
// most ATTACHMENT_BYTES_PER_WRITE (or one document), writing each slice
// before reading the next. Documents keep their order, so the write order
// and the per-document results are those of one bulkDocs; a slice that
// fails fails the batch, which the replicator retries as a whole (a write
// with new_edits=false of a revision already there is a no-op).
import type { Pouch } from './pouch.js';

/**
 * Attachment bytes read and written at once per replication direction. At
 * 32 KiB chunks a full batch of chunk documents was ~3.2 MiB, which the
 * memory test (test/soledad/blob.test.ts) showed is comfortable.
 */
export const ATTACHMENT_BYTES_PER_WRITE = 2 * 1024 * 1024;
/** Slicing counts an attachment whose stub gave no length as this many bytes. */
const UNKNOWN_LENGTH = 128 * 1024;
/** Stub lengths remembered between a batch's bulkGet and its getAttachment calls; past this (batches aborted half way), forgotten. */
const MAX_REMEMBERED_LENGTHS = 10_000;

/** What the sliced getAttachment answers instead of the data: read later, in bulkDocs. */
export class PendingAttachment {
  constructor(
    readonly length: number,
    readonly read: () => Promise<Buffer>,
  ) {}
}

type Attachments = Record<string, { data?: unknown; length?: number; stub?: boolean }>;
interface ReplicatedDoc {
  _id: string;
  _attachments?: Attachments;
}
type BulkResult = Array<PouchDB.Core.Response | PouchDB.Core.Error>;

function pendingBytes(doc: ReplicatedDoc): number {
  let n = 0;
  for (const att of Object.values(doc._attachments ?? {})) if (att.data instanceof PendingAttachment) n += att.data.length;
  return n;
}

/** A copy of the document with its placeholders' data read (the replicator's own object keeps the placeholders: it holds the batch until it is done). */
async function withData(doc: ReplicatedDoc): Promise<ReplicatedDoc> {
  const atts = doc._attachments;
  if (!atts || !Object.values(atts).some((a) => a.data instanceof PendingAttachment)) return doc;
  const copy: Attachments = {};
  await Promise.all(
    Object.entries(atts).map(async ([name, att]) => {
      copy[name] = att.data instanceof PendingAttachment ? { ...att, data: await att.data.read() } : att;
    }),
  );
  return { ...doc, _attachments: copy };
}

/** Views of `local` and `remote` for PouchDB's replicator (sync, replicate.to/from), sharing the stub lengths of the batches under way. */
export function slicedReplicationPair(local: Pouch, remote: Pouch): { local: Pouch; remote: Pouch } {
  const lengths = new Map<string, number>();
  return { local: slicedView(local, lengths), remote: slicedView(remote, lengths) };
}

function slicedView(db: Pouch, lengths: Map<string, number>): Pouch {
  const key = (id: string, name: string): string => `${id}\u0000${name}`;

  const bulkGet = async (opts: PouchDB.Core.BulkGetOptions): Promise<PouchDB.Core.BulkGetResponse<Record<string, unknown>>> => {
    const res = await db.bulkGet(opts);
    if (lengths.size > MAX_REMEMBERED_LENGTHS) lengths.clear();
    for (const r of res.results) {
      for (const d of r.docs) {
        const doc = (d as { ok?: ReplicatedDoc }).ok;
        for (const [name, att] of Object.entries(doc?._attachments ?? {})) {
          if (typeof att.length === 'number') lengths.set(key(doc!._id, name), att.length);
        }
      }
    }
    return res;
  };

  const getAttachment = (docId: string, name: string, opts: { rev?: string } = {}): Promise<PendingAttachment> => {
    const k = key(docId, name);
    const length = lengths.get(k) ?? UNKNOWN_LENGTH;
    lengths.delete(k);
    return Promise.resolve(new PendingAttachment(length, async () => (await db.getAttachment(docId, name, opts)) as Buffer));
  };

  const bulkDocs = (...args: unknown[]): unknown => {
    const [req, opts] = args as [{ docs?: ReplicatedDoc[] } | ReplicatedDoc[], Record<string, unknown> | undefined];
    const docs = Array.isArray(req) ? req : req?.docs;
    const sliced = typeof args[args.length - 1] !== 'function' && Array.isArray(docs) && docs.some((d) => pendingBytes(d) > 0);
    if (!sliced) return (db.bulkDocs as unknown as (...a: unknown[]) => unknown)(...args);
    return writeInSlices(db, Array.isArray(req) ? {} : req, docs, opts ?? {});
  };

  const overrides = new Map<string | symbol, unknown>([['bulkGet', bulkGet], ['getAttachment', getAttachment], ['bulkDocs', bulkDocs]]);
  const bound = new Map<string | symbol, unknown>();
  return new Proxy(db, {
    get(target, prop) {
      if (overrides.has(prop)) return overrides.get(prop);
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      // Methods run on the database itself: its own calls (put → bulkDocs, ...) are not the replicator's.
      let fn = bound.get(prop);
      if (!fn || (fn as { original?: unknown }).original !== value) {
        fn = Object.assign((value as (...a: unknown[]) => unknown).bind(target), { original: value });
        bound.set(prop, fn);
      }
      return fn;
    },
  });
}

async function writeInSlices(db: Pouch, req: object, docs: ReplicatedDoc[], opts: Record<string, unknown>): Promise<BulkResult> {
  const results: BulkResult = [];
  let slice: ReplicatedDoc[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    const ready = await Promise.all(slice.map(withData));
    slice = [];
    bytes = 0;
    const written = (await db.bulkDocs({ ...req, docs: ready } as never, opts as never)) as BulkResult;
    for (const r of written) results.push(r);
  };
  for (const doc of docs) {
    const b = pendingBytes(doc);
    if (slice.length > 0 && bytes + b > ATTACHMENT_BYTES_PER_WRITE) await flush();
    slice.push(doc);
    bytes += b;
  }
  if (slice.length > 0) await flush();
  return results;
}
