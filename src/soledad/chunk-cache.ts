// Decrypted chunks of small blobs kept for re-reads: a client fetches a
// message's header, then its parts, then the whole, each a read of the same
// chunks. Bounded in bytes; least recently used dropped first. A chunk id
// names one write's chunk, so its bytes never change and need no invalidation.

/** Bytes of decrypted chunks kept. */
const CHUNK_CACHE_BYTES = 16 * 1024 * 1024;
/** Only chunks of blobs up to this size are kept: a large attachment streamed once would flush the rest. */
export const CHUNK_CACHE_MAX_BLOB = 256 * 1024;

export class PlainChunkCache {
  private readonly chunks = new Map<string, Buffer>();
  private bytes = 0;

  /** The chunk's bytes if kept (and now the most recently used), else undefined. */
  get(docId: string): Buffer | undefined {
    const data = this.chunks.get(docId);
    if (data) {
      this.chunks.delete(docId);
      this.chunks.set(docId, data);
    }
    return data;
  }

  keep(docId: string, data: Buffer): void {
    const had = this.chunks.get(docId); // two reads of the same chunk at once
    if (had) this.bytes -= had.length;
    this.chunks.set(docId, data);
    this.bytes += data.length;
    while (this.bytes > CHUNK_CACHE_BYTES) {
      const [oldId, old] = this.chunks.entries().next().value!;
      this.chunks.delete(oldId);
      this.bytes -= old.length;
    }
  }
}
