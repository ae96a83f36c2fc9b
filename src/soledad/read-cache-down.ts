// A write-through cache of recently written values in front of a local
// PouchDB's LevelDB handle. PouchDB reads back what it has just written, one
// key at a time: every changes() query (the change hub's, the conflict
// scan's) reads each changed document's metadata with its own get, and the
// documents sync brings are read again (metadata, revision, compaction of
// the old revision) when the fetch loop processes them moments later. Each
// get is a native call that queues work on libuv's pool, and such reads come
// one after another, so each one wakes an idle pool thread: on 2 cores that
// costs ~25 µs of the main thread plus a context switch, more than the read
// itself. bench/fetch-ingest made 25 native gets per message; with this
// cache 8 (the other 17 are served from memory).
//
// What is served is exactly what LevelDB would return: only values of writes
// that have completed, and only while no other write of the key is in flight
// (a get then goes to LevelDB, which may see either value, as before). A
// key written by two overlapping writes is not cached (which one LevelDB
// applied last is not known here). Only the sublevels holding small JSON
// values are cached (PouchDB's document metadata and revision bodies), not
// attachment data.
import { ForwardingDown, type Callback } from './down.js';

interface WriteOp {
  type: 'put' | 'del';
  key: unknown;
  value?: unknown;
}

/** PouchDB leveldb adapter's sublevels (keys `ÿname ÿ…`) whose values are small JSON documents. */
const CACHED_SUBLEVELS = ['\xffdocument-store\xff', '\xffby-sequence\xff'];
/** Bounds of the cache: a burst of 1,000 messages writes ~5,000 documents (metadata + revision each). */
const MAX_ENTRIES = 16_384;
const MAX_CHARS = 8 * 1024 * 1024;
/** A larger value (a document with big inline data) is left to LevelDB. */
const MAX_VALUE_CHARS = 64 * 1024;

const cacheable = (key: unknown): key is string => typeof key === 'string' && CACHED_SUBLEVELS.some((p) => key.startsWith(p));

export class ReadCacheDown extends ForwardingDown {
  /** Insertion order is age: the oldest entry is evicted first; a rewrite makes an entry young again. */
  private readonly values = new Map<string, string>();
  private chars = 0;
  /** Keys with a write in flight: how many, and whether two overlapped. */
  private readonly pending = new Map<string, { writes: number; overlapped: boolean }>();
  /**
   * Bumped by clear() and close(): a write that started before completes
   * without caching (its key may have been cleared after it). Nothing is
   * served or cached while a clear is in flight.
   */
  private epoch = 0;
  private clearing = 0;
  /** Gets answered from memory and gets of cacheable keys that went to LevelDB (tests, benchmarks). */
  readonly counts = { hits: 0, misses: 0 };

  get size(): number {
    return this.values.size;
  }

  override close(cb: Callback): void {
    this.epoch++;
    this.drop();
    this.inner.close(cb);
  }

  override get(key: unknown, options: object, cb: Callback): void {
    if (cacheable(key)) {
      const value = this.pending.has(key) || this.clearing > 0 ? undefined : this.values.get(key);
      if (value !== undefined) {
        this.counts.hits++;
        // leveldown's default is a Buffer; levelup asks for a string for JSON values.
        const asBuffer = (options as { asBuffer?: boolean }).asBuffer !== false;
        process.nextTick(cb, null, asBuffer ? Buffer.from(value) : value);
        return;
      }
      this.counts.misses++;
    }
    this.inner.get(key, options, cb);
  }

  override put(key: unknown, value: unknown, options: object, cb: Callback): void {
    this.write([{ type: 'put', key, value }], cb, (done) => this.inner.put(key, value, options, done));
  }

  override del(key: unknown, options: object, cb: Callback): void {
    this.write([{ type: 'del', key }], cb, (done) => this.inner.del(key, options, done));
  }

  override batch(ops: unknown[], options: object, cb: Callback): void {
    this.write(ops as WriteOp[], cb, (done) => this.inner.batch(ops, options, done));
  }

  override clear(options: object, cb: Callback): void {
    this.clearing++;
    this.epoch++;
    this.drop();
    this.inner.clear(options, (err, ...rest) => {
      this.clearing--;
      this.epoch++;
      this.drop();
      cb(err, ...rest);
    });
  }

  /**
   * Marks the write's keys in flight (their gets go to LevelDB meanwhile) and
   * forgets their old values; once LevelDB has applied the write, caches the
   * values it put, for the keys no other write touched meanwhile.
   */
  private write(ops: WriteOp[], cb: Callback, run: (done: Callback) => void): void {
    const keys: string[] = [];
    for (const op of ops) {
      if (!cacheable(op.key)) continue;
      keys.push(op.key);
      const p = this.pending.get(op.key);
      if (p) {
        p.writes++;
        p.overlapped = true;
      } else {
        this.pending.set(op.key, { writes: 1, overlapped: false });
      }
      this.forget(op.key);
    }
    if (keys.length === 0) return run(cb);
    const epoch = this.epoch;
    run((err, ...rest) => {
      const keep = !err && epoch === this.epoch && this.clearing === 0;
      // The last op of a key in this write is what it left there.
      const last = new Map<string, WriteOp>();
      if (keep) for (const op of ops) if (cacheable(op.key)) last.set(op.key, op);
      for (const key of keys) {
        const p = this.pending.get(key)!;
        if (--p.writes > 0) continue;
        this.pending.delete(key);
        const op = last.get(key);
        if (op?.type === 'put' && !p.overlapped && typeof op.value === 'string') this.remember(key, op.value);
      }
      cb(err, ...rest);
    });
  }

  private remember(key: string, value: string): void {
    if (value.length > MAX_VALUE_CHARS) return;
    this.values.set(key, value);
    this.chars += value.length;
    while (this.values.size > MAX_ENTRIES || this.chars > MAX_CHARS) this.forget(this.values.keys().next().value as string);
  }

  private forget(key: string): void {
    const had = this.values.get(key);
    if (had === undefined) return;
    this.values.delete(key);
    this.chars -= had.length;
  }

  private drop(): void {
    this.values.clear();
    this.chars = 0;
  }
}
