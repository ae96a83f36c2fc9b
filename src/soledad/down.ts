// The LevelDB handle interface under the local PouchDBs, shared by the
// wrappers stacked on leveldown (pouch.ts): ReadCacheDown over
// GetBatchingDown over the reopenable handle over leveldown itself.

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
