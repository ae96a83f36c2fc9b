// An in-memory DocumentStore: same contract as Soledad (changes feed with a
// monotonic seq, live changes, streamed blobs) but no crypto, no disk, no
// sync. For fast tests of everything built on the store (src/mail, src/imap).
//
// The changes feed behaves like CouchDB's: one entry per document, its latest
// version, ordered by the seq of its last write.
//
// Several devices may share one instance to stand for a synced store. Their
// writes then race (read, change, write) the way concurrent edits on two
// replicas do; registerMerge makes a write of that type join what is stored,
// as Soledad's conflict resolution joins the two revisions after a sync.
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { BlobOptions, ChangesOptions, DeleteBlobOptions, ReadBlobOptions, Doc, DocChange, DocumentStore } from './types.js';
import type { MergeFn } from './conflicts.js';

interface Slot {
  seq: number;
  type: string;
  id: string;
  content: unknown | null;
}

const key = (type: string, id: string): string => `${type}\u0000${id}`;

export class MemoryDocumentStore implements DocumentStore {
  private readonly docs = new Map<string, Slot>();
  /** Write log in seq order; entries superseded by a later write are skipped when read. */
  private readonly log: Slot[] = [];
  private seq = 0;
  private readonly blobs = new Map<string, Buffer>();
  private readonly blobMetas = new Map<string, unknown>();
  /** Per blob, a token of its current write (blobVersion). */
  private readonly blobWrites = new Map<string, string>();
  private blobWriteCount = 0;
  private readonly events = new EventEmitter();
  private closed = false;
  private readonly merges = new Map<string, MergeFn>();

  constructor() {
    this.events.setMaxListeners(0);
  }

  /** Every later write of that type is merged with the stored version (replication conflicts). */
  registerMerge<T>(type: string, merge: MergeFn<T>): void {
    this.merges.set(type, merge as MergeFn);
  }

  /** Current last seq of the changes feed. */
  get updateSeq(): string {
    return String(this.seq);
  }

  async put<T>(type: string, id: string, content: T): Promise<void> {
    this.write(type, id, structuredClone(content));
  }

  async get<T>(type: string, id: string): Promise<T | null> {
    const slot = this.docs.get(key(type, id));
    return slot && slot.content !== null ? (structuredClone(slot.content) as T) : null;
  }

  async delete(type: string, id: string): Promise<void> {
    const slot = this.docs.get(key(type, id));
    if (!slot || slot.content === null) return;
    this.write(type, id, null);
  }

  async bulkPut(docs: Array<Doc>): Promise<void> {
    for (const d of docs) this.write(d.type, d.id, structuredClone(d.content));
  }

  async *query<T>(type: string): AsyncIterable<Doc<T>> {
    for (const slot of [...this.docs.values()]) {
      if (slot.type === type && slot.content !== null) {
        yield { type, id: slot.id, content: structuredClone(slot.content) as T };
      }
    }
  }

  async *changes<T = unknown>(opts: ChangesOptions = {}): AsyncIterable<DocChange<T>> {
    let since = opts.since === 'now' ? this.seq : opts.since ? Number(opts.since) : 0;
    if (!Number.isFinite(since)) throw new Error(`bad seq ${opts.since}`);
    for (;;) {
      // Backlog: latest version of each doc written after `since`, in seq order.
      const start = firstIndexAfter(this.log, since);
      for (let i = start; i < this.log.length; i++) {
        const slot = this.log[i];
        since = slot.seq;
        const current = this.docs.get(key(slot.type, slot.id));
        if (current !== slot) continue;
        yield {
          seq: String(slot.seq),
          type: slot.type,
          id: slot.id,
          content: slot.content === null ? null : (structuredClone(slot.content) as T),
        };
      }
      if (!opts.live || this.closed || opts.signal?.aborted) return;
      if (since < this.seq) continue;
      const more = await this.nextWrite(opts.signal);
      if (!more) return;
    }
  }

  async putBlob(id: string, source: AsyncIterable<Buffer> | Buffer, opts: BlobOptions = {}): Promise<{ size: number }> {
    let data: Buffer;
    if (Buffer.isBuffer(source)) data = Buffer.from(source);
    else {
      const chunks: Uint8Array[] = [];
      for await (const c of source) chunks.push(Buffer.from(c));
      data = Buffer.concat(chunks);
    }
    this.blobs.set(id, data);
    this.blobWrites.set(id, String(++this.blobWriteCount));
    if (opts.meta !== undefined) this.blobMetas.set(id, structuredClone(opts.meta));
    else this.blobMetas.delete(id);
    return { size: data.length };
  }

  async blobMeta<T>(id: string): Promise<T | null> {
    const meta = this.blobs.has(id) ? this.blobMetas.get(id) : undefined;
    return meta === undefined ? null : (structuredClone(meta) as T);
  }

  async hasBlob(id: string): Promise<boolean> {
    return this.blobs.has(id);
  }

  async blobSize(id: string): Promise<number | null> {
    return this.blobs.get(id)?.length ?? null;
  }

  readBlob(id: string, start = 0, end?: number, opts?: ReadBlobOptions): Readable {
    const data = this.blobs.get(id);
    if (!data) {
      return new Readable({
        read() {
          this.destroy(opts?.missing?.() ?? Object.assign(new Error(`no blob ${id}`), { code: 'ENOENT' }));
        },
      });
    }
    const slice = data.subarray(Math.max(0, start), Math.min(data.length, end ?? data.length));
    // Hand out 64 KiB chunks, as a real store would, so readers cope with many chunks.
    const chunks: Buffer[] = [];
    for (let o = 0; o < slice.length; o += 65536) chunks.push(slice.subarray(o, o + 65536));
    return Readable.from(chunks, { objectMode: false });
  }

  async blobVersion(id: string): Promise<string | null> {
    return this.blobWrites.get(id) ?? null;
  }

  async deleteBlob(id: string, opts: DeleteBlobOptions = {}): Promise<void> {
    if (opts.ifVersion !== undefined && this.blobWrites.get(id) !== opts.ifVersion) return;
    this.blobs.delete(id);
    this.blobMetas.delete(id);
    this.blobWrites.delete(id);
  }

  /** Number of blobs held (tests: dedupe). */
  blobCount(): number {
    return this.blobs.size;
  }

  /** Ends every live changes feed. */
  async close(): Promise<void> {
    this.closed = true;
    this.events.emit('write', false);
  }

  private write(type: string, id: string, content: unknown | null): void {
    if (this.closed) throw new Error('document store is closed');
    const merge = this.merges.get(type);
    const stored = this.docs.get(key(type, id))?.content;
    if (merge && content !== null && stored !== undefined && stored !== null) content = merge(stored, content);
    const slot: Slot = { seq: ++this.seq, type, id, content };
    this.docs.set(key(type, id), slot);
    this.log.push(slot);
    this.events.emit('write', true);
  }

  private nextWrite(signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const onAbort = (): void => done(false);
      const onWrite = (more: boolean): void => done(more);
      const done = (more: boolean): void => {
        this.events.off('write', onWrite);
        signal?.removeEventListener('abort', onAbort);
        resolve(more);
      };
      this.events.on('write', onWrite);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Index of the first log slot with seq > since (the log is sorted by seq). */
function firstIndexAfter(log: Slot[], since: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (log[mid].seq <= since) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
