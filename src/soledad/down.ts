// The LevelDB handle interface under the local PouchDBs, shared by the
// wrappers stacked on leveldown (pouch.ts): ReadCacheDown over
// GetBatchingDown over the reopenable handle over leveldown itself; and
// ForwardingDown, the pass-through the first two extend.

export type Callback = (err?: Error | null, ...rest: unknown[]) => void;

/** The part of leveldown's (abstract-leveldown 7) interface that levelup and PouchDB use, plus getMany. */
export interface Down {
  status: string;
  supports: unknown;
  open(options: object, cb: Callback): void;
  close(cb: Callback): void;
  put(key: unknown, value: unknown, options: object, cb: Callback): void;
  get(key: unknown, options: object, cb: Callback): void;
  /** Values in key order; undefined where a key is missing (leveldown 6.1). */
  getMany?(keys: unknown[], options: object, cb: Callback): void;
  del(key: unknown, options: object, cb: Callback): void;
  batch(ops: unknown[], options: object, cb: Callback): void;
  clear(options: object, cb: Callback): void;
  iterator(options: object): DownIterator;
  approximateSize?(start: unknown, end: unknown, cb: Callback): void;
  compactRange?(start: unknown, end: unknown, cb: Callback): void;
}

export interface DownIterator {
  next(cb: Callback): unknown;
  end(cb: Callback): unknown;
  seek(target: unknown): void;
}

export type DownFactory = ((location: string) => Down) & { destroy?(location: string, cb: Callback): void };

/** A Down that passes every call to `inner`: a wrapper extends it and overrides what it changes. */
export class ForwardingDown implements Down {
  constructor(readonly inner: Down) {}

  get status(): string {
    return this.inner.status;
  }

  get supports(): unknown {
    return this.inner.supports;
  }

  open(options: object, cb: Callback): void {
    this.inner.open(options, cb);
  }

  close(cb: Callback): void {
    this.inner.close(cb);
  }

  put(key: unknown, value: unknown, options: object, cb: Callback): void {
    this.inner.put(key, value, options, cb);
  }

  get(key: unknown, options: object, cb: Callback): void {
    this.inner.get(key, options, cb);
  }

  del(key: unknown, options: object, cb: Callback): void {
    this.inner.del(key, options, cb);
  }

  batch(ops: unknown[], options: object, cb: Callback): void {
    this.inner.batch(ops, options, cb);
  }

  clear(options: object, cb: Callback): void {
    this.inner.clear(options, cb);
  }

  iterator(options: object): DownIterator {
    return this.inner.iterator(options);
  }

  approximateSize(start: unknown, end: unknown, cb: Callback): void {
    this.inner.approximateSize!(start, end, cb);
  }

  compactRange(start: unknown, end: unknown, cb: Callback): void {
    this.inner.compactRange!(start, end, cb);
  }
}
