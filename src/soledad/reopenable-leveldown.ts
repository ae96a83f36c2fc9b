// A LevelDB backend for the local PouchDBs that survives a full disk without
// a restart. LevelDB turns a failed background write (the memtable flushed
// to a level-0 table, a manifest update) into a sticky error: every later
// write fails with it, even once there is space again, until the database is
// reopened (leveldb db_impl.cc RecordBackgroundError). A failed log append
// is not sticky. So when a write fails with an I/O error and the disk has
// room again, the database is closed and reopened (operations arriving
// meanwhile wait; reads keep working while the disk is full) and the write
// is tried once more.
import { createRequire } from 'node:module';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { logger } from '../util/log.js';

const log = logger('soledad-store');

type Callback = (err?: Error | null, ...rest: unknown[]) => void;

/** The part of leveldown's (abstract-leveldown 7) interface that levelup and PouchDB use. */
interface Down {
  status: string;
  supports: unknown;
  open(options: object, cb: Callback): void;
  close(cb: Callback): void;
  put(key: unknown, value: unknown, options: object, cb: Callback): void;
  get(key: unknown, options: object, cb: Callback): void;
  del(key: unknown, options: object, cb: Callback): void;
  batch(ops: unknown[], options: object, cb: Callback): void;
  clear(options: object, cb: Callback): void;
  iterator(options: object): DownIterator;
  approximateSize?(start: unknown, end: unknown, cb: Callback): void;
  compactRange?(start: unknown, end: unknown, cb: Callback): void;
}

interface DownIterator {
  next(cb: Callback): unknown;
  end(cb: Callback): unknown;
  seek(target: unknown): void;
}

type DownFactory = ((location: string) => Down) & { destroy?(location: string, cb: Callback): void };

const leveldown = createRequire(import.meta.url)('leveldown') as DownFactory;

/**
 * Table files LevelDB keeps open (leveldown's default: 1000). LevelDB reads
 * an open table through mmap, and every page of it read stays in the
 * process's RSS until the table is closed: reading 300 MB of blobs left
 * 330–350 MB of mapped tables in RSS, and a store of a few GB could reach
 * ~2 GB (1000 tables of 2 MB). With 100 (90 tables cached) the same reads
 * left 81–85 MB (~55 MB of which is node itself), in the same time. A store under ~180 MB is all open
 * either way (issue 4).
 */
const MAX_OPEN_FILES = 100;

/** Free space the disk needs before a reopen is worth trying (LevelDB flushes its 4 MiB write buffer). */
const ROOM_FOR_REOPEN = 8 * 1024 * 1024;
/** Least time between two reopens (a disk that fills again right away is not reopened in a loop). */
const REOPEN_EVERY_MS = 2000;

/** An I/O error from LevelDB ("IO error: …: No space left on device") or the OS. */
function isIoError(err: unknown): boolean {
  const m = (err as Error | null)?.message ?? '';
  return /IO error|No space left|ENOSPC|EIO\b/i.test(m);
}

class ReopenableDown {
  private inner: Down;
  private openOptions: object = {};
  private inflight = 0;
  private idle: Array<() => void> = [];
  /** Operations waiting while the database is reopened. */
  private waiting: Array<() => void> | null = null;
  private recovering: Promise<boolean> | null = null;
  private lastReopen = 0;
  /** Bumped at each reopen: iterators of the old handle are finished. */
  generation = 0;

  constructor(private readonly location: string) {
    this.inner = leveldown(location);
  }

  get status(): string {
    return this.inner.status;
  }

  get supports(): unknown {
    return this.inner.supports;
  }

  open(options: object, cb: Callback): void {
    this.openOptions = { maxOpenFiles: MAX_OPEN_FILES, ...options };
    this.inner.open(this.openOptions, cb);
  }

  close(cb: Callback): void {
    const run = (): void => this.inner.close(cb);
    if (this.waiting) this.waiting.push(run);
    else run();
  }

  put(key: unknown, value: unknown, options: object, cb: Callback): void {
    this.run((done) => this.inner.put(key, value, options, done), cb, true);
  }

  del(key: unknown, options: object, cb: Callback): void {
    this.run((done) => this.inner.del(key, options, done), cb, true);
  }

  batch(ops: unknown[], options: object, cb: Callback): void {
    this.run((done) => this.inner.batch(ops, options, done), cb, true);
  }

  get(key: unknown, options: object, cb: Callback): void {
    this.run((done) => this.inner.get(key, options, done), cb, false);
  }

  clear(options: object, cb: Callback): void {
    this.run((done) => this.inner.clear(options, done), cb, true);
  }

  approximateSize(start: unknown, end: unknown, cb: Callback): void {
    this.run((done) => this.inner.approximateSize!(start, end, done), cb, false);
  }

  compactRange(start: unknown, end: unknown, cb: Callback): void {
    this.run((done) => this.inner.compactRange!(start, end, done), cb, true);
  }

  iterator(options: object): DownIterator {
    return new GatedIterator(this, options);
  }

  /** Runs `start` now, or after a reopen in progress. */
  whenOpen(fn: () => void): void {
    if (this.waiting) this.waiting.push(fn);
    else fn();
  }

  innerIterator(options: object): DownIterator {
    return this.inner.iterator(options);
  }

  private run(start: (done: Callback) => void, cb: Callback, write: boolean, retried = false): void {
    if (this.waiting) {
      this.waiting.push(() => this.run(start, cb, write, retried));
      return;
    }
    this.inflight++;
    start((err, ...rest) => {
      if (--this.inflight === 0) for (const w of this.idle.splice(0)) w();
      if (err && write && !retried && isIoError(err)) {
        void this.recover().then((reopened) => (reopened ? this.run(start, cb, write, true) : cb(err, ...rest)));
        return;
      }
      cb(err, ...rest);
    });
  }

  /** After a failed write: reopen if the disk has room again (at most one reopen at a time). */
  private recover(): Promise<boolean> {
    if (this.recovering) return this.recovering;
    // Cleared when settled, not in a finally inside the attempt: an attempt that returns
    // before its first await (a reopen just happened) runs its finally before `recovering`
    // is assigned, which then kept that settled `false` for good: never another reopen.
    const attempt = this.tryReopen();
    this.recovering = attempt;
    void attempt.finally(() => {
      if (this.recovering === attempt) this.recovering = null;
    }).catch(() => undefined);
    return attempt;
  }

  private async tryReopen(): Promise<boolean> {
    if (Date.now() - this.lastReopen < REOPEN_EVERY_MS) return false;
    const fs = await statfs(dirname(this.location)).catch(() => null);
    if (!fs || fs.bavail * fs.bsize < ROOM_FOR_REOPEN) return false;
    return this.reopen();
  }

  private async reopen(): Promise<boolean> {
    this.lastReopen = Date.now();
    this.waiting = [];
    if (this.inflight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    let ok = true;
    try {
      await new Promise<void>((resolve, reject) => this.inner.close((err) => (err ? reject(err) : resolve())));
      this.generation++;
      await new Promise<void>((resolve, reject) => this.inner.open(this.openOptions, (err) => (err ? reject(err) : resolve())));
      log.warn({ db: this.location }, 'local store reopened after a write error (disk full?); writes work again');
    } catch (err) {
      // Closed but not reopened: a fresh handle, opened when the next reopen is tried.
      ok = false;
      log.error({ db: this.location, err: (err as Error).message }, 'local store could not be reopened');
      if (this.inner.status !== 'open') await this.openFresh();
    }
    const waiting = this.waiting;
    this.waiting = null;
    for (const w of waiting) w();
    return ok;
  }

  /** Reopens on a new handle, retrying until it works (operations wait meanwhile). */
  private async openFresh(): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, REOPEN_EVERY_MS));
      this.inner = leveldown(this.location);
      const err = await new Promise<Error | null | undefined>((resolve) => this.inner.open(this.openOptions, resolve));
      if (!err) return;
      log.error({ db: this.location, err: err.message }, 'local store still cannot be opened; trying again');
    }
  }
}

/** An iterator that starts once a reopen in progress is done; one from before a reopen reports its end as an error. */
class GatedIterator implements DownIterator {
  private it: DownIterator | null = null;
  private readonly generation: number;
  private seekTo: unknown = undefined;

  constructor(
    private readonly db: ReopenableDown,
    private readonly options: object,
  ) {
    this.generation = db.generation;
  }

  private withIterator(fn: (it: DownIterator) => void, cb: Callback): void {
    this.db.whenOpen(() => {
      if (this.db.generation !== this.generation) return cb(new Error('the local store was reopened; read again'));
      if (!this.it) {
        this.it = this.db.innerIterator(this.options);
        if (this.seekTo !== undefined) this.it.seek(this.seekTo);
      }
      fn(this.it);
    });
  }

  next(cb: Callback): this {
    this.withIterator((it) => it.next(cb), cb);
    return this;
  }

  end(cb: Callback): void {
    if (!this.it || this.db.generation !== this.generation) {
      process.nextTick(cb);
      return;
    }
    this.it.end(cb);
  }

  seek(target: unknown): void {
    if (this.it) this.it.seek(target);
    else this.seekTo = target;
  }
}

/** The handle last made per location (compactDatabase, databaseBytes reach the database through it). */
const handles = new Map<string, ReopenableDown>();

/** The leveldown factory PouchDB's leveldb adapter takes as its `db` option (its name keys PouchDB's cache of open databases). */
export function reopenableLeveldown(location: string): Down {
  const handle = new ReopenableDown(location);
  handles.set(location, handle);
  return handle as unknown as Down;
}

/** Every key PouchDB writes (its sublevels' keys start with 0xff). */
const ALL_KEYS: [Buffer, Buffer] = [Buffer.from([0]), Buffer.alloc(8, 0xff)];

function onHandle<T>(location: string, call: (h: ReopenableDown, cb: Callback) => void): Promise<T> {
  const handle = handles.get(location);
  if (!handle) return Promise.reject(new Error(`no open database at ${location}`));
  return new Promise<T>((resolve, reject) => call(handle, (err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * Rewrites the whole database now: LevelDB keeps deleted data on disk until
 * a compaction reaches it, which on a store that is written little can take
 * very long (blob garbage collection frees tens of MB that stay on disk).
 */
export function compactDatabase(location: string): Promise<void> {
  return onHandle(location, (h, cb) => h.compactRange(ALL_KEYS[0], ALL_KEYS[1], cb));
}

/** LevelDB's estimate of the bytes the database takes on disk. */
export function databaseBytes(location: string): Promise<number> {
  return onHandle(location, (h, cb) => h.approximateSize(ALL_KEYS[0], ALL_KEYS[1], cb));
}
reopenableLeveldown.destroy = (location: string, cb: Callback): void => leveldown.destroy!(location, cb);
