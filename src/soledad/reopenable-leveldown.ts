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
import type { Callback, Down, DownFactory, DownIterator } from './down.js';

const log = logger('soledad-store');

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
  /** Iterators of the current handle started and not yet ended. */
  private openIterators = 0;
  /** Each returns true (and is dropped) once what it waits for holds. */
  private idleWaiters: Array<() => boolean> = [];
  /** Operations waiting while the database is reopened. */
  private waiting: Array<() => void> | null = null;
  /** A release is waiting for open iterators to end: they go on meanwhile (new ones wait). */
  private draining = false;
  /** A release in progress (a reopen after a write error waits for it: both hold operations in `waiting`). */
  private releasing: Promise<boolean> | null = null;
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

  /** LevelDB's own memory (memtables and block cache: fixed-size, not data held by the caller); 0 when not open. */
  memoryBytes(): number {
    const inner = this.inner as Down & { getProperty?(name: string): string };
    if (inner.status !== 'open' || !inner.getProperty) return 0;
    return Number(inner.getProperty('leveldb.approximate-memory-usage')) || 0;
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

  getMany(keys: unknown[], options: object, cb: Callback): void {
    this.run((done) => this.inner.getMany!(keys, options, done), cb, false);
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

  /** Runs `fn` now, or after a reopen in progress; an iterator already started goes on while a release waits for it. */
  whenOpen(fn: () => void, started = false): void {
    if (this.waiting && !(started && this.draining)) this.waiting.push(fn);
    else fn();
  }

  innerIterator(options: object): DownIterator {
    this.openIterators++;
    return this.inner.iterator(options);
  }

  iteratorEnded(): void {
    if (this.openIterators > 0) this.openIterators--;
    this.wakeIdle();
  }

  /**
   * Closes and reopens the database, so that the pages of its table files
   * LevelDB mapped for reads leave the process's RSS: LevelDB reads a table
   * through mmap (up to 1000 tables per process, leveldb env_posix.cc) and
   * keeps it mapped while the table is in its table cache, so a read of the
   * whole store keeps all of it (up to MAX_OPEN_FILES tables) resident until
   * the database is closed. Done once no operation is in flight and every
   * iterator has ended: new operations wait meanwhile (the reopen itself
   * takes milliseconds), iterators already started go on to their end. When
   * that takes longer than `maxWaitMs`, nothing is done: false.
   */
  release(maxWaitMs: number): Promise<boolean> {
    if (this.waiting || this.inner.status !== 'open') return Promise.resolve(false);
    const releasing = this.releaseNow(maxWaitMs).finally(() => {
      if (this.releasing === releasing) this.releasing = null;
    });
    this.releasing = releasing;
    return releasing;
  }

  private async releaseNow(maxWaitMs: number): Promise<boolean> {
    this.waiting = [];
    this.draining = true;
    const idle = await this.untilIdle(true, maxWaitMs);
    this.draining = false;
    if (!idle) {
      this.resume();
      return false;
    }
    const started = Date.now();
    const ok = await this.cycle();
    if (ok) log.debug({ db: this.location, ms: Date.now() - started }, 'local store reopened to release mapped table files');
    return ok;
  }

  private idleNow(withIterators: boolean): boolean {
    return this.inflight === 0 && (!withIterators || this.openIterators === 0);
  }

  /** Resolves true once nothing is in flight (nor, `withIterators`, open), false after `maxWaitMs`. */
  private untilIdle(withIterators: boolean, maxWaitMs = Infinity): Promise<boolean> {
    if (this.idleNow(withIterators)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (): boolean => {
        if (!this.idleNow(withIterators)) return false;
        clearTimeout(timer);
        resolve(true);
        return true;
      };
      this.idleWaiters.push(waiter);
      if (maxWaitMs !== Infinity) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
          resolve(false);
        }, maxWaitMs);
      }
    });
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length > 0) this.idleWaiters = this.idleWaiters.filter((w) => !w());
  }

  /** Runs the operations that waited for a reopen. */
  private resume(): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    for (const w of waiting) w();
  }

  private run(start: (done: Callback) => void, cb: Callback, write: boolean, retried = false): void {
    if (this.waiting) {
      this.waiting.push(() => this.run(start, cb, write, retried));
      return;
    }
    this.inflight++;
    start((err, ...rest) => {
      if (--this.inflight === 0) this.wakeIdle();
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
    while (this.releasing) await this.releasing;
    this.lastReopen = Date.now();
    this.waiting = [];
    await this.untilIdle(false);
    const ok = await this.cycle();
    if (ok) log.warn({ db: this.location }, 'local store reopened after a write error (disk full?); writes work again');
    return ok;
  }

  /** Closes and opens the handle (operations wait in `waiting`), then runs what waited. */
  private async cycle(): Promise<boolean> {
    let ok = true;
    try {
      await new Promise<void>((resolve, reject) => this.inner.close((err) => (err ? reject(err) : resolve())));
      // Closing ended the old handle's iterators.
      this.generation++;
      this.openIterators = 0;
      await new Promise<void>((resolve, reject) => this.inner.open(this.openOptions, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      // Closed but not reopened: a fresh handle, opened when the next reopen is tried.
      ok = false;
      log.error({ db: this.location, err: (err as Error).message }, 'local store could not be reopened');
      if (this.inner.status !== 'open') await this.openFresh();
    }
    this.resume();
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

/**
 * An iterator that starts once a reopen in progress is done. One started
 * before a reopen reports its next read as an error (its handle is gone); one
 * not started yet simply starts on the new handle.
 */
class GatedIterator implements DownIterator {
  private it: DownIterator | null = null;
  /** The handle generation `it` belongs to. */
  private generation = -1;
  private ended = false;
  private seekTo: unknown = undefined;

  constructor(
    private readonly db: ReopenableDown,
    private readonly options: object,
  ) {}

  private withIterator(fn: (it: DownIterator) => void, cb: Callback): void {
    this.db.whenOpen(() => {
      if (this.it && this.db.generation !== this.generation) return cb(new Error('the local store was reopened; read again'));
      if (!this.it) {
        this.it = this.db.innerIterator(this.options);
        this.generation = this.db.generation;
        if (this.seekTo !== undefined) this.it.seek(this.seekTo);
      }
      fn(this.it);
    }, this.it !== null);
  }

  next(cb: Callback): this {
    this.withIterator((it) => it.next(cb), cb);
    return this;
  }

  end(cb: Callback): void {
    if (!this.it || this.ended || this.db.generation !== this.generation) {
      this.ended = true;
      process.nextTick(cb);
      return;
    }
    this.ended = true;
    this.it.end((err) => {
      this.db.iteratorEnded();
      cb(err);
    });
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

/**
 * Reopens the database when it is idle (see ReopenableDown.release): the
 * table files it mapped for reads leave the RSS. False when it stayed busy
 * for `maxWaitMs` (nothing done) or is not open.
 */
export function releaseMappedTables(location: string, maxWaitMs = 2000): Promise<boolean> {
  const handle = handles.get(location);
  return handle ? handle.release(maxWaitMs) : Promise.resolve(false);
}

/** The memory LevelDB itself holds (memtables, block caches) over every database open in this process: what a memory test leaves out of what the code holds. */
export function leveldbMemoryBytes(): number {
  let total = 0;
  for (const handle of handles.values()) total += handle.memoryBytes();
  return total;
}

/** LevelDB's estimate of the bytes the database takes on disk. */
export function databaseBytes(location: string): Promise<number> {
  return onHandle(location, (h, cb) => h.approximateSize(ALL_KEYS[0], ALL_KEYS[1], cb));
}
reopenableLeveldown.destroy = (location: string, cb: Callback): void => leveldown.destroy!(location, cb);
