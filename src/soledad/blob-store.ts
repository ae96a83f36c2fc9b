// Large binary payloads (message blobs), streamed in chunks of just under
// 128 KiB (32 KiB for blobs written before; each head records its chunk
// size) so that memory stays bounded whatever the size.
//
// Layout. A blob's head document sits at the blob's own stored id: a sealed
// document of an internal type whose content is the metadata (size, chunk
// count, chunk size, write id, and an optional value of the caller's, e.g. a
// message's structure) and whose one binary attachment is the first sealed
// chunk. Chunks 1.. are documents of their own, one attachment each. The head
// is written after every other chunk, so a blob that is visible is complete;
// a small blob (most mail) is one document, not two or three: a new device
// replicates, and an index reads, that many fewer documents (issue 3).
// Blobs written before (no `first` in the metadata) have every chunk, the
// first included, in a chunk document and the head holds the metadata only;
// they are read the same way, so an upgraded store loses nothing.
//
// Chunk ids are HMACs too and include the write id: two devices writing the
// same blob never overwrite each other's chunks.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { CHUNK_DATA_BYTES, docIdFor, openChunk, sealChunk, type ChunkBinding, type OpenedDoc } from './doc-crypto.js';
import type { DerivedKeys } from './secrets.js';
import { isConflict, isNotFound, type Pouch } from './pouch.js';
import { SoledadError } from './errors.js';
import { CHUNK_CACHE_MAX_BLOB, PlainChunkCache } from './chunk-cache.js';
import { pouchBytes } from '../util/pouch-bytes.js';
import { readAttachment, readAttachmentOf, type AttachmentStub } from './attachment-read.js';

export const BLOB_TYPE = '\u0000blob';
const CHUNK_TYPE = '\u0000blob-chunk';
const ATTACHMENT = 'c';
const CONTENT_TYPE = 'application/octet-stream';
/** Blob metadata kept decrypted (a few hundred bytes each; never the caller's value): a read is then one chunk fetch, not a document read more. */
const META_CACHE = 20_000;
/**
 * Bytes of chunk documents written per write: a large blob is a few
 * commits, not one per chunk, each of which was a LevelDB batch and a
 * changes() query per live feed (bench/fetch-ingest: most of the store's
 * commits were the chunks of large messages, written one after the other).
 */
const CHUNK_WRITE_BATCH_BYTES = 512 * 1024;

/** What the head document holds (sealed). */
interface BlobHead extends BlobInfo {
  /** The caller's value given to put (absent: none). */
  meta?: unknown;
}

/** The metadata, as cached. */
interface BlobInfo {
  size: number;
  chunks: number;
  chunkBytes: number;
  writeId: string;
  /** 1: chunk 0 is the head document's attachment. Absent in blobs written before that layout. */
  first?: 1;
}

/** The slice of EncryptedStore the blob store needs (sealing and opening the head document). */
export interface HeadStore {
  seal(docId: string, doc: OpenedDoc): Record<string, unknown>;
  open(docId: string, doc: unknown): OpenedDoc;
  /** A sealed document this store wrote itself (the type index learns its type without decrypting it). */
  noteWrite(docId: string, type: string): void;
}

interface ReadHead {
  rev: string;
  head: BlobHead;
  /** The sealed first chunk, when asked for and the blob has the current layout. */
  first?: Buffer;
}

export class BlobStore {
  /** Plain bytes per chunk of new writes (tests set the old size to write blobs as before). */
  writeChunkBytes = CHUNK_DATA_BYTES;
  private readonly infos = new Map<string, BlobInfo>();
  private readonly plain = new PlainChunkCache();

  constructor(
    private readonly store: HeadStore,
    private readonly db: Pouch,
    private readonly keys: DerivedKeys,
    private readonly ns: string,
  ) {}

  private headId(id: string): string {
    return docIdFor(this.keys, BLOB_TYPE, id);
  }

  private chunkId(id: string, writeId: string, index: number): string {
    return docIdFor(this.keys, CHUNK_TYPE, `${id}\u0000${writeId}\u0000${index}`);
  }

  private binding(id: string, writeId: string, index: number, last: boolean): ChunkBinding {
    return { blobDocId: this.headId(id), writeId, index, last };
  }

  /** The head document (with its sealed first chunk if `withFirst`), or null when there is no such blob. */
  private async readHead(id: string, withFirst = false): Promise<ReadHead | null> {
    const docId = this.headId(id);
    let doc: Record<string, unknown> & { _rev: string; _attachments?: Record<string, AttachmentStub> };
    try {
      doc = (await this.db.get(docId)) as typeof doc;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const opened = this.store.open(docId, doc);
    if (opened.type !== BLOB_TYPE || opened.content === null) return null;
    const head = opened.content as BlobHead;
    const stub = doc._attachments?.[ATTACHMENT];
    if (!withFirst || !head.first || !stub) return { rev: doc._rev, head };
    // The first chunk of this revision: read apart from the document (attachment-read.ts).
    const first = await readAttachmentOf(this.db, docId, ATTACHMENT, stub).catch((err: unknown) => {
      if (isNotFound(err)) return undefined; // replaced meanwhile: readFirst reports it as BLOB_INCOMPLETE
      throw err;
    });
    return { rev: doc._rev, head, ...(first ? { first } : {}) };
  }

  async put(id: string, source: AsyncIterable<Buffer> | Buffer, opts: { meta?: unknown } = {}): Promise<{ size: number }> {
    const writeId = crypto.randomBytes(12).toString('hex');
    const chunkBytes = this.writeChunkBytes;
    const writeBatch = Math.max(1, Math.floor(CHUNK_WRITE_BATCH_BYTES / chunkBytes));
    let index = 0;
    let size = 0;
    let first: Buffer | null = null;
    /** Sealed chunks not written yet (see CHUNK_WRITE_BATCH_BYTES). */
    const unwritten: Array<{ docId: string; sealed: Buffer }> = [];
    // One chunk of look-ahead: a chunk is sealed only once we know whether it is the last.
    let pending: Buffer | null = null;
    const flush = async (data: Buffer, last: boolean): Promise<void> => {
      const sealed = sealChunk(this.keys, this.ns, this.binding(id, writeId, index, last), data);
      // The first chunk goes into the head, written last.
      if (index === 0) first = sealed;
      else {
        unwritten.push({ docId: this.chunkId(id, writeId, index), sealed });
        if (unwritten.length >= writeBatch) await this.writeChunks(unwritten.splice(0));
      }
      index++;
    };
    const parts: Buffer[] = [];
    let partsLen = 0;
    const inMemory = Buffer.isBuffer(source);
    const iterable: AsyncIterable<Buffer> | Buffer[] = inMemory ? [source] : source;
    for await (const piece of iterable) {
      let buf = piece;
      size += buf.length;
      while (buf.length > 0) {
        const take = Math.min(chunkBytes - partsLen, buf.length);
        parts.push(buf.subarray(0, take));
        partsLen += take;
        buf = buf.subarray(take);
        if (partsLen === chunkBytes) {
          if (pending) await flush(pending, false);
          pending = joinParts(parts, inMemory);
          parts.length = 0;
          partsLen = 0;
        }
      }
    }
    if (partsLen > 0) {
      if (pending) await flush(pending, false);
      pending = joinParts(parts, inMemory);
    }
    await flush(pending ?? Buffer.alloc(0), true);
    if (unwritten.length > 0) await this.writeChunks(unwritten.splice(0));
    const head: BlobHead = { size, chunks: index, chunkBytes, writeId, first: 1 };
    if (opts.meta !== undefined) head.meta = opts.meta;
    const replaced = await this.writeHead(id, head, first!);
    this.remember(id, head);
    if (replaced && replaced.writeId !== writeId) await this.removeChunks(id, replaced);
    return { size };
  }

  /**
   * Writes the head; returns the head it replaced, if any. The head is first
   * written as new, with no read before: most blobs are new (content stored
   * once; the caller has just looked, e.g. hasBlob), and a read that finds
   * nothing costs as much as one that finds a head. An existing one makes
   * the write a conflict and is read then.
   */
  private async writeHead(id: string, head: BlobHead, first: Buffer): Promise<BlobHead | null> {
    const docId = this.headId(id);
    let rev: string | undefined;
    let replaced: BlobHead | null = null;
    for (let attempt = 0; ; attempt++) {
      const doc = {
        _id: docId,
        ...(rev ? { _rev: rev } : {}),
        ...this.store.seal(docId, { type: BLOB_TYPE, id, content: head }),
        _attachments: { [ATTACHMENT]: { content_type: CONTENT_TYPE, data: pouchBytes(first) } },
      };
      try {
        await this.db.put(doc as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
        break;
      } catch (err) {
        // Written meanwhile (another write of the same blob here, or one that arrived by sync): ours replaces it.
        if (!isConflict(err) || attempt >= 5) throw err;
        const existing = await this.readHead(id);
        replaced = existing?.head ?? null;
        // Not a head we can open (e.g. of another type): its revision only.
        rev = existing ? existing.rev : await this.db.get(docId).then((d) => d._rev, (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      }
    }
    this.store.noteWrite(docId, BLOB_TYPE);
    return replaced;
  }

  /** Several chunk documents in one write; one the write refuses (409: exists) goes through writeChunk. */
  private async writeChunks(chunks: Array<{ docId: string; sealed: Buffer }>): Promise<void> {
    if (chunks.length === 1) return this.writeChunk(chunks[0]!.docId, chunks[0]!.sealed);
    const results = await this.db.bulkDocs(chunks.map((c) => this.chunkDoc(c.docId, c.sealed)) as unknown as Array<PouchDB.Core.PutDocument<Record<string, unknown>>>);
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (!('error' in r) || !r.error) continue;
      if (r.status !== 409) throw new SoledadError(`blob chunk write failed: ${r.message ?? r.name}`, 'WRITE_FAILED');
      await this.writeChunk(chunks[i]!.docId, chunks[i]!.sealed);
    }
  }

  private chunkDoc(docId: string, sealed: Buffer): { _id: string; _attachments: Record<string, { content_type: string; data: Uint8Array }> } {
    return { _id: docId, _attachments: { [ATTACHMENT]: { content_type: CONTENT_TYPE, data: pouchBytes(sealed) } } };
  }

  private async writeChunk(docId: string, sealed: Buffer): Promise<void> {
    const doc = this.chunkDoc(docId, sealed);
    try {
      await this.db.put(doc as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const rev = (await this.db.get(docId))._rev;
      await this.db.put({ ...doc, _rev: rev } as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
    }
  }

  async has(id: string): Promise<boolean> {
    return (await this.infoOf(id, true)) !== null;
  }

  async size(id: string): Promise<number | null> {
    return (await this.infoOf(id, true))?.size ?? null;
  }

  /** The value given to put as `meta`, or null (none, or no such blob). */
  async meta<T>(id: string): Promise<T | null> {
    const read = await this.readHead(id);
    if (!read) return null;
    this.remember(id, read.head);
    return (read.head.meta ?? null) as T | null;
  }

  /** The blob's metadata, from the cache unless `fresh`. */
  private async infoOf(id: string, fresh = false): Promise<BlobInfo | null> {
    const known = fresh ? undefined : this.infos.get(id);
    if (known) return known;
    const read = await this.readHead(id);
    if (read) return this.remember(id, read.head);
    this.infos.delete(id);
    return null;
  }

  private remember(id: string, head: BlobHead): BlobInfo {
    const info: BlobInfo = { size: head.size, chunks: head.chunks, chunkBytes: head.chunkBytes, writeId: head.writeId };
    if (head.first) info.first = 1;
    this.infos.delete(id);
    this.infos.set(id, info);
    if (this.infos.size > META_CACHE) this.infos.delete(this.infos.keys().next().value!);
    return info;
  }

  /** `missing`: the error a blob that is not stored fails the stream with (default: SoledadError NOT_FOUND). */
  read(id: string, start = 0, end?: number, missing?: () => Error): Readable {
    return Readable.from(this.chunks(id, start, end, missing), { objectMode: false });
  }

  private async *chunks(id: string, start: number, end?: number, missing?: () => Error): AsyncGenerator<Buffer> {
    let info = this.infos.get(id);
    let first: Buffer | undefined;
    if (!info) {
      // Not known yet: one read gives the metadata and (current layout) the first chunk.
      const read = await this.readHead(id, start < CHUNK_DATA_BYTES);
      if (!read) throw missing?.() ?? new SoledadError(`no blob ${id}`, 'NOT_FOUND');
      info = this.remember(id, read.head);
      first = read.first;
    }
    yield* this.chunksOf(id, info, start, Math.min(end ?? info.size, info.size), true, first);
  }

  private async *chunksOf(id: string, info: BlobInfo, start: number, stop: number, mayRetry: boolean, first?: Buffer): AsyncGenerator<Buffer> {
    if (start < 0 || start >= stop) return;
    const from = Math.floor(start / info.chunkBytes);
    const lastNeeded = Math.floor((stop - 1) / info.chunkBytes);
    // One chunk read ahead of the one being consumed: the store's latency overlaps the consumer's work.
    let ahead: Promise<Buffer> | null = null;
    for (let i = from; i <= lastNeeded; i++) {
      const current: Promise<Buffer> = ahead ?? this.readChunk(id, info, i, first);
      ahead = i < lastNeeded ? this.readChunk(id, info, i + 1) : null;
      ahead?.catch(() => undefined); // awaited on the next turn; this only keeps an early failure from being "unhandled"
      let data: Buffer;
      try {
        data = await current;
      } catch (err) {
        // The cached metadata may be of a write another device has since
        // replaced (same bytes, other chunks): read it again, go on from the same byte.
        if (!mayRetry || !(err instanceof SoledadError) || err.code !== 'BLOB_INCOMPLETE') throw err;
        const fresh = await this.infoOf(id, true);
        if (!fresh || fresh.writeId === info.writeId || fresh.size !== info.size) throw err;
        yield* this.chunksOf(id, fresh, Math.max(start, i * info.chunkBytes), stop, false);
        return;
      }
      const offset = i * info.chunkBytes;
      yield data.subarray(Math.max(0, start - offset), Math.min(data.length, stop - offset));
    }
  }

  private async readChunk(id: string, info: BlobInfo, index: number, preloaded?: Buffer): Promise<Buffer> {
    const docId = this.chunkId(id, info.writeId, index);
    const cached = this.plain.get(docId);
    if (cached) return cached;
    const sealed = index === 0 && info.first ? (preloaded ?? (await this.readFirst(id, info))) : await this.readChunkDoc(id, info, docId, index);
    const data = openChunk(this.keys, this.ns, this.binding(id, info.writeId, index, index === info.chunks - 1), sealed);
    const expected = index === info.chunks - 1 ? info.size - index * info.chunkBytes : info.chunkBytes;
    if (data.length !== expected) throw new SoledadError(`blob ${id}: chunk ${index} has the wrong length`, 'BLOB_INCOMPLETE');
    if (info.size <= CHUNK_CACHE_MAX_BLOB) this.plain.keep(docId, data);
    return data;
  }

  /** The sealed first chunk from the head, if the head is still of that write. */
  private async readFirst(id: string, info: BlobInfo): Promise<Buffer> {
    const read = await this.readHead(id, true);
    if (!read || read.head.writeId !== info.writeId) throw new SoledadError(`blob ${id} was replaced or deleted meanwhile`, 'BLOB_INCOMPLETE');
    if (!read.first) throw new SoledadError(`blob ${id}: its first chunk is missing from its head`, 'BLOB_INCOMPLETE');
    return read.first;
  }

  private async readChunkDoc(id: string, info: BlobInfo, docId: string, index: number): Promise<Buffer> {
    try {
      return await readAttachment(this.db, docId, ATTACHMENT);
    } catch (err) {
      if (isNotFound(err)) throw new SoledadError(`blob ${id}: chunk ${index} of ${info.chunks} is missing (not replicated yet?)`, 'BLOB_INCOMPLETE');
      throw err;
    }
  }

  /** The id of the blob's current write (a rewrite of the same bytes gets a new one), or null: no such blob. */
  async version(id: string): Promise<string | null> {
    return (await this.infoOf(id, true))?.writeId ?? null;
  }

  /**
   * Deletes the blob (with `ifVersion`, only while it is still that write).
   * The chunk documents go first and the head last: a crash in between
   * leaves the head, so a second delete finds the chunks left and finishes;
   * head first would lose track of them for good. A reader of a blob being
   * deleted gets BLOB_INCOMPLETE (blob garbage collection only deletes blobs
   * no live message refers to).
   */
  async delete(id: string, opts: { ifVersion?: string } = {}): Promise<void> {
    const docId = this.headId(id);
    for (let attempt = 0; ; attempt++) {
      this.infos.delete(id);
      const read = await this.readHead(id);
      if (!read) return;
      if (opts.ifVersion !== undefined && read.head.writeId !== opts.ifVersion) return;
      await this.removeChunks(id, read.head);
      // The head of the write read above, not whatever is there now: a
      // rewrite that came in meanwhile (sync) is a conflict here and stays.
      // A deletion carries no attachments: the first chunk goes with the head.
      const deletion = { _id: docId, _rev: read.rev, _deleted: true, ...this.store.seal(docId, { type: BLOB_TYPE, id, content: null }) };
      try {
        await this.db.put(deletion as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
        this.infos.delete(id);
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
  }

  /** Deletes the chunk documents of one write (the first is in the head unless the blob predates that layout). */
  private async removeChunks(id: string, info: BlobInfo): Promise<void> {
    for (let i = info.first ? 1 : 0; i < info.chunks; i += 100) {
      const ids: string[] = [];
      for (let j = i; j < Math.min(info.chunks, i + 100); j++) ids.push(this.chunkId(id, info.writeId, j));
      const res = await this.db.allDocs({ keys: ids });
      const dels = res.rows
        .filter((r) => 'value' in r && r.value && !(r.value as { deleted?: boolean }).deleted)
        .map((r) => ({ _id: r.key, _rev: (r as { value: { rev: string } }).value.rev, _deleted: true }));
      if (dels.length) await this.db.bulkDocs(dels);
    }
  }
}

/** One chunk from its parts: of a Buffer the caller gave, a view, not a copy (the chunk is only read, to seal it). */
function joinParts(parts: Buffer[], inMemory: boolean): Buffer {
  return inMemory && parts.length === 1 ? parts[0]! : Buffer.concat(parts as Uint8Array[]);
}
