// Reading an attachment's bytes from a local PouchDB so that V8 can free
// them in a young-generation GC once the reader drops them.
//
// Not db.getAttachment, nor db.get with { attachments: true }: those deliver
// the bytes to a callback that the task of PouchDB's read queue for the
// document read still references. Such a task is promoted to the old
// generation when a young GC runs during its read, and once it is dead
// garbage there it keeps the bytes it reaches alive through every young GC
// until the next full one (V8 frees old garbage only then). Serving a 25 MB
// attachment over IMAP kept every sealed chunk read, ~4 MB of each 8 MB
// read, until a full GC: 40–55 MB of dead Buffers at the peak. Read here,
// the same chunks are freed by the young GCs (2–5 MB of Buffers live
// throughout; bench/imap-big-attachment, BENCHMARKS.md "Serving a 25 MB
// attachment").
//
// So the document is read through the API (its stub is small: digest,
// length) and the bytes through the adapter's _getAttachment, which every
// PouchDB adapter implements and which PouchDB's own getAttachment calls
// with the same arguments after the same document read.
import type { Pouch } from './pouch.js';

export interface AttachmentStub {
  digest?: string;
  content_type?: string;
  length?: number;
}

type AdapterGetAttachment = (
  docId: string,
  name: string,
  stub: AttachmentStub,
  opts: { binary: true },
  cb: (err: Error | null, data?: Buffer) => void,
) => void;

/** PouchDB's shape of a 404 (isNotFound in pouch.ts tests the status). */
function missing(reason: string): Error {
  return Object.assign(new Error(reason), { status: 404, name: 'not_found', reason });
}

/** The bytes of the attachment named `name` of the document's winning revision; a 404 error (as PouchDB's) when the document or attachment is missing. */
export async function readAttachment(db: Pouch, docId: string, name: string): Promise<Buffer> {
  const doc = (await db.get(docId)) as { _attachments?: Record<string, AttachmentStub> };
  const stub = doc._attachments?.[name];
  if (!stub) throw missing(`document ${docId} has no attachment ${name}`);
  return readAttachmentOf(db, docId, name, stub);
}

/**
 * The bytes of an attachment whose stub (from a document read just before)
 * the caller has. PouchDB's adapter answers an empty attachment when its
 * bytes are gone (the revision was replaced and compacted since the read):
 * that is a 404 here, never a silent empty answer for a non-empty stub.
 */
export function readAttachmentOf(db: Pouch, docId: string, name: string, stub: AttachmentStub): Promise<Buffer> {
  const adapterRead = (db as unknown as { _getAttachment: AdapterGetAttachment })._getAttachment;
  return new Promise<Buffer>((resolve, reject) => {
    adapterRead.call(db, docId, name, stub, { binary: true }, (err, data) => {
      if (err) return reject(err);
      const bytes = data ?? Buffer.alloc(0);
      if (bytes.length === 0 && (stub.length ?? 0) > 0) return reject(missing(`attachment ${name} of ${docId} is gone (replaced meanwhile)`));
      resolve(bytes);
    });
  });
}
