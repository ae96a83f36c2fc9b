// Large binary payloads (message blobs), streamed in chunks of just under
// 32 KiB so that memory stays bounded whatever the size. Each chunk is its
// own document holding one binary attachment (sealed chunk bytes); the blob's
// metadata (size, chunk count, write id) is an ordinary sealed document of an
// internal type, written after every chunk, so a blob that is visible is
// complete. Chunk ids are HMACs too and include the write id: two devices
// writing the same blob never overwrite each other's chunks.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { CHUNK_DATA_BYTES, docIdFor, openChunk, sealChunk, type ChunkBinding } from './doc-crypto.js';
import type { DerivedKeys } from './secrets.js';
import { isConflict, isNotFound, type Pouch } from './pouch.js';
import { SoledadError } from './errors.js';

export const BLOB_TYPE = '\u0000blob';
const CHUNK_TYPE = '\u0000blob-chunk';
const ATTACHMENT = 'c';
/** Blob metadata documents kept decrypted (a few hundred bytes each): a read is then one chunk fetch, not two document reads more. */
const META_CACHE = 20_000;
/** Decrypted chunks kept for re-reads (clients fetch a message's header, then its parts): bytes, and only of small blobs. */
const CHUNK_CACHE_BYTES = 16 * 1024 * 1024;
const CHUNK_CACHE_MAX_CHUNKS = 8;

interface BlobMeta {
  size: number;
  chunks: number;
  chunkBytes: number;
  writeId: string;
}

/** The slice of EncryptedStore the blob store needs (metadata documents). */
interface MetaStore {
  put<T>(type: string, id: string, content: T): Promise<void>;
  get<T>(type: string, id: string): Promise<T | null>;
  delete(type: string, id: string): Promise<void>;
}

export class BlobStore {
  private readonly metas = new Map<string, BlobMeta>();
  private readonly plain = new Map<string, Buffer>();
  private plainBytes = 0;

  constructor(
    private readonly meta: MetaStore,
    private readonly db: Pouch,
    private readonly keys: DerivedKeys,
    private readonly ns: string,
  ) {}

  private chunkId(id: string, writeId: string, index: number): string {
    return docIdFor(this.keys, CHUNK_TYPE, `${id}\u0000${writeId}\u0000${index}`);
  }

  private binding(id: string, writeId: string, index: number, last: boolean): ChunkBinding {
    return { blobDocId: docIdFor(this.keys, BLOB_TYPE, id), writeId, index, last };
  }

  async put(id: string, source: AsyncIterable<Buffer> | Buffer): Promise<{ size: number }> {
    const writeId = crypto.randomBytes(12).toString('hex');
    const previous = await this.meta.get<BlobMeta>(BLOB_TYPE, id);
    let index = 0;
    let size = 0;
    // One chunk of look-ahead: a chunk is sealed only once we know whether it is the last.
    let pending: Buffer | null = null;
    const flush = async (data: Buffer, last: boolean): Promise<void> => {
      const sealed = sealChunk(this.keys, this.ns, this.binding(id, writeId, index, last), data);
      await this.writeChunk(this.chunkId(id, writeId, index), sealed);
      index++;
    };
    const parts: Buffer[] = [];
    let partsLen = 0;
    const iterable: AsyncIterable<Buffer> | Buffer[] = Buffer.isBuffer(source) ? [source] : source;
    for await (const piece of iterable) {
      let buf = piece;
      size += buf.length;
      while (buf.length > 0) {
        const take = Math.min(CHUNK_DATA_BYTES - partsLen, buf.length);
        parts.push(buf.subarray(0, take));
        partsLen += take;
        buf = buf.subarray(take);
        if (partsLen === CHUNK_DATA_BYTES) {
          if (pending) await flush(pending, false);
          pending = Buffer.concat(parts as Uint8Array[]);
          parts.length = 0;
          partsLen = 0;
        }
      }
    }
    if (partsLen > 0) {
      if (pending) await flush(pending, false);
      pending = Buffer.concat(parts as Uint8Array[]);
    }
    await flush(pending ?? Buffer.alloc(0), true);
    const meta: BlobMeta = { size, chunks: index, chunkBytes: CHUNK_DATA_BYTES, writeId };
    await this.meta.put<BlobMeta>(BLOB_TYPE, id, meta);
    this.remember(id, meta);
    if (previous && previous.writeId !== writeId) await this.removeChunks(id, previous);
    return { size };
  }

  private async writeChunk(docId: string, sealed: Buffer): Promise<void> {
    const doc = { _id: docId, _attachments: { [ATTACHMENT]: { content_type: 'application/octet-stream', data: sealed } } };
    try {
      await this.db.put(doc as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const rev = (await this.db.get(docId))._rev;
      await this.db.put({ ...doc, _rev: rev } as unknown as PouchDB.Core.PutDocument<Record<string, unknown>>);
    }
  }

  async has(id: string): Promise<boolean> {
    return (await this.meta.get<BlobMeta>(BLOB_TYPE, id)) !== null;
  }

  async size(id: string): Promise<number | null> {
    return (await this.meta.get<BlobMeta>(BLOB_TYPE, id))?.size ?? null;
  }

  /** The blob's metadata, from the cache unless `fresh`. */
  private async metaOf(id: string, fresh = false): Promise<BlobMeta | null> {
    const known = fresh ? undefined : this.metas.get(id);
    if (known) return known;
    const meta = await this.meta.get<BlobMeta>(BLOB_TYPE, id);
    if (meta) this.remember(id, meta);
    else this.metas.delete(id);
    return meta;
  }

  private remember(id: string, meta: BlobMeta): void {
    this.metas.delete(id);
    this.metas.set(id, meta);
    if (this.metas.size > META_CACHE) this.metas.delete(this.metas.keys().next().value!);
  }

  read(id: string, start = 0, end?: number): Readable {
    return Readable.from(this.chunks(id, start, end), { objectMode: false });
  }

  private async *chunks(id: string, start: number, end?: number): AsyncGenerator<Buffer> {
    const meta = await this.metaOf(id);
    if (!meta) throw new SoledadError(`no blob ${id}`, 'NOT_FOUND');
    yield* this.chunksOf(id, meta, start, Math.min(end ?? meta.size, meta.size), true);
  }

  private async *chunksOf(id: string, meta: BlobMeta, start: number, stop: number, mayRetry: boolean): AsyncGenerator<Buffer> {
    if (start < 0 || start >= stop) return;
    const first = Math.floor(start / meta.chunkBytes);
    const lastNeeded = Math.floor((stop - 1) / meta.chunkBytes);
    // One chunk read ahead of the one being consumed: the store's latency overlaps the consumer's work.
    let ahead: Promise<Buffer> | null = null;
    for (let i = first; i <= lastNeeded; i++) {
      const current: Promise<Buffer> = ahead ?? this.readChunk(id, meta, i);
      ahead = i < lastNeeded ? this.readChunk(id, meta, i + 1) : null;
      ahead?.catch(() => undefined); // awaited on the next turn; this only keeps an early failure from being "unhandled"
      let data: Buffer;
      try {
        data = await current;
      } catch (err) {
        // The cached metadata may be of a write another device has since
        // replaced (same bytes, other chunks): read it again, go on from the same byte.
        if (!mayRetry || !(err instanceof SoledadError) || err.code !== 'BLOB_INCOMPLETE') throw err;
        const fresh = await this.metaOf(id, true);
        if (!fresh || fresh.writeId === meta.writeId || fresh.size !== meta.size) throw err;
        yield* this.chunksOf(id, fresh, Math.max(start, i * meta.chunkBytes), stop, false);
        return;
      }
      const offset = i * meta.chunkBytes;
      yield data.subarray(Math.max(0, start - offset), Math.min(data.length, stop - offset));
    }
  }

  private async readChunk(id: string, meta: BlobMeta, index: number): Promise<Buffer> {
    const docId = this.chunkId(id, meta.writeId, index);
    const cached = this.plain.get(docId);
    if (cached) {
      this.plain.delete(docId);
      this.plain.set(docId, cached);
      return cached;
    }
    let sealed: Buffer;
    try {
      sealed = (await this.db.getAttachment(docId, ATTACHMENT)) as Buffer;
    } catch (err) {
      if (isNotFound(err)) throw new SoledadError(`blob ${id}: chunk ${index} of ${meta.chunks} is missing (not replicated yet?)`, 'BLOB_INCOMPLETE');
      throw err;
    }
    const data = openChunk(this.keys, this.ns, this.binding(id, meta.writeId, index, index === meta.chunks - 1), sealed);
    const expected = index === meta.chunks - 1 ? meta.size - index * meta.chunkBytes : meta.chunkBytes;
    if (data.length !== expected) throw new SoledadError(`blob ${id}: chunk ${index} has the wrong length`, 'BLOB_INCOMPLETE');
    if (meta.chunks <= CHUNK_CACHE_MAX_CHUNKS) this.keepPlain(docId, data);
    return data;
  }

  private keepPlain(docId: string, data: Buffer): void {
    // A chunk id names one write's chunk: its bytes never change.
    const had = this.plain.get(docId); // two reads of the same chunk at once
    if (had) this.plainBytes -= had.length;
    this.plain.set(docId, data);
    this.plainBytes += data.length;
    while (this.plainBytes > CHUNK_CACHE_BYTES) {
      const [oldId, old] = this.plain.entries().next().value!;
      this.plain.delete(oldId);
      this.plainBytes -= old.length;
    }
  }

  async delete(id: string): Promise<void> {
    this.metas.delete(id);
    const meta = await this.meta.get<BlobMeta>(BLOB_TYPE, id);
    if (!meta) return;
    await this.meta.delete(BLOB_TYPE, id);
    await this.removeChunks(id, meta);
  }

  private async removeChunks(id: string, meta: BlobMeta): Promise<void> {
    for (let i = 0; i < meta.chunks; i += 100) {
      const ids: string[] = [];
      for (let j = i; j < Math.min(meta.chunks, i + 100); j++) ids.push(this.chunkId(id, meta.writeId, j));
      const res = await this.db.allDocs({ keys: ids });
      const dels = res.rows
        .filter((r) => 'value' in r && r.value && !(r.value as { deleted?: boolean }).deleted)
        .map((r) => ({ _id: r.key, _rev: (r as { value: { rev: string } }).value.rev, _deleted: true }));
      if (dels.length) await this.db.bulkDocs(dels);
    }
  }
}
