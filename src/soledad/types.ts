// The document-store contract the rest of the daemon codes against. Soledad
// (src/soledad) implements it with client-side encryption over PouchDB and
// replication; `src/mail` and `src/keymanager` only know this interface.
import type { Readable } from 'node:stream';

/** A decrypted document as the application sees it. `type` + `id` is its logical identity. */
export interface Doc<T = unknown> {
  type: string;
  id: string;
  content: T;
}

export interface DocChange<T = unknown> {
  /** Opaque, monotonically increasing position in this store's changes feed. */
  seq: string;
  type: string;
  id: string;
  /** null when the document was deleted. */
  content: T | null;
}

export interface ChangesOptions {
  /** Start after this seq; 'now' = only future changes; default: from the beginning. */
  since?: string | 'now';
  /** Keep waiting for new changes (until the signal aborts or the store closes). */
  live?: boolean;
  signal?: AbortSignal;
  /**
   * Only documents of these types are wanted: a store may skip the others
   * without decoding them (Soledad does), or still yield them, so readers
   * check the type anyway.
   */
  types?: readonly string[];
}

export interface BlobOptions {
  meta?: unknown;
}

export interface DocumentStore {
  /** Insert or replace. Resolves once durable in the local store. */
  put<T>(type: string, id: string, content: T): Promise<void>;
  get<T>(type: string, id: string): Promise<T | null>;
  delete(type: string, id: string): Promise<void>;
  /** Several puts; each document is atomic, the batch is not. */
  bulkPut(docs: Array<Doc>): Promise<void>;
  /** Every document of a type. */
  query<T>(type: string): AsyncIterable<Doc<T>>;
  /** Decrypted changes feed (local writes and those arriving by sync). */
  changes<T = unknown>(opts?: ChangesOptions): AsyncIterable<DocChange<T>>;

  /**
   * Large binary payloads (message blobs), streamed in chunks: never held
   * whole. `meta`: a small JSON value kept with the blob (Soledad stores it in
   * the blob's head document, beside its first chunk: no document of its own).
   */
  putBlob(id: string, source: AsyncIterable<Buffer> | Buffer, opts?: BlobOptions): Promise<{ size: number }>;
  /** The `meta` the blob was written with; null when it has none or there is no such blob. */
  blobMeta<T>(id: string): Promise<T | null>;
  hasBlob(id: string): Promise<boolean>;
  /**
   * An opaque token naming the blob's current write, or null when there is no
   * such blob: writing the same id again (even the same bytes) changes it.
   * Optional; blob garbage collection uses it to delete only the write it
   * proposed to delete (src/mail/store/blob-gc.ts).
   */
  blobVersion?(id: string): Promise<string | null>;
  /** Optional: the id of every blob stored (blob garbage collection looks for blobs no entry refers to). */
  blobIds?(): AsyncIterable<string>;
  blobSize(id: string): Promise<number | null>;
  /**
   * Bytes [start, end) of a blob (end defaults to its size). A blob that is
   * not stored fails the stream with `opts.missing()` when given (the caller's
   * own error, e.g. the mail store's NONEXISTENT), else the store's own error.
   */
  readBlob(id: string, start?: number, end?: number, opts?: ReadBlobOptions): Readable;
  /** `ifVersion`: delete only while the blob is still that write (see blobVersion); else leave it. */
  deleteBlob(id: string, opts?: DeleteBlobOptions): Promise<void>;
}

export interface ReadBlobOptions {
  /** The error a missing blob fails the stream with. */
  missing?: () => Error;
}

export interface DeleteBlobOptions {
  ifVersion?: string;
}

/**
 * An *incoming* document, written by the provider's MX into the user's
 * database: the raw message encrypted to the user's OpenPGP public key. It is
 * not Soledad-encrypted (the MX has no storage secret); the fetch loop reads,
 * decrypts, splits and then deletes it.
 *
 * On the wire (CouchDB):
 *   { _id: "incoming-<uuid>", sealmail: "incoming", v: 1, receivedAt: ISO-8601,
 *     _attachments: { "message.pgp": { content_type: "application/pgp-encrypted",
 *                                       data: <binary OpenPGP message> } } }
 */
export interface IncomingDoc {
  id: string;
  receivedAt: string;
  /** Size in bytes of the encrypted payload. */
  size: number;
  /** Streams the binary OpenPGP message. */
  open(): Promise<Readable>;
  /** Present when this device recorded that the doc could not be processed (Soledad's markIncoming). */
  note?: { error: string; attempts: number; at: string };
}

export const INCOMING_PREFIX = 'incoming-';
export const INCOMING_ATTACHMENT = 'message.pgp';
