// Gets issued in the same tick go to LevelDB as one getMany, not one native
// call each. PouchDB reads one key at a time: a bulkDocs of 20 documents
// reads the metadata of each (most of them new, so not found), then the
// attachment reference of each new attachment, each with its own get. Every
// native get queues work on libuv's pool and wakes a pool thread, and on 2
// cores the woken thread often takes the core from the main thread right
// away: in bench/fetch-ingest (~11 such gets per message) the main thread
// was busy 93% of the time but on a CPU only 71% of it. With this, those
// 11,100 gets per 1,000 messages are ~470 native calls; over 10 alternated
// runs the main thread's CPU fell by 0.2 ms per message (median of the
// pairs' differences, lower in 8 of 10) and ingest rose ~4% (BENCHMARKS.md,
// "Fetch ingest: fifth session").
//
// What a get answers does not change: leveldown's get and getMany both read
// on a pool thread some time after the call, so a write issued meanwhile
// may or may not be seen, as before. A key that is missing gets leveldown's
// own NotFound error. Attachment data (large values) is still read one key
// per call: several large reads then run on several pool threads at once.
import { ForwardingDown, type Callback } from './down.js';

/** PouchDB's sublevel of attachment bodies (up to 128 KiB each), read key by key. */
const LARGE_VALUES = '\xffattach-binary-store\xff';
/** At most this many keys per getMany: a longer run of gets is several calls, read in parallel. */
const MAX_KEYS = 64;

interface QueuedGet {
  key: unknown;
  options: object;
  cb: Callback;
}

/**
 * leveldown's error for a missing key (levelup and PouchDB test its message
 * for /notfound/i). Without a stack trace: most of PouchDB's gets during a
 * write are of new documents, and capturing a stack for each showed in the
 * ingest profile (19 ms per 1,000 messages).
 */
function notFound(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const err = new Error('NotFound: ');
  Error.stackTraceLimit = limit;
  return err;
}

/** The options a get's answer depends on: gets that agree on them can share a getMany. */
function optionsKey(options: object): string {
  const o = options as { asBuffer?: unknown; fillCache?: unknown };
  return `${o.asBuffer !== false}:${o.fillCache !== false}`;
}

export class GetBatchingDown extends ForwardingDown {
  private queued: QueuedGet[] = [];
  /** Native calls made and keys read through getMany (tests, benchmarks). */
  readonly counts = { getMany: 0, keys: 0 };

  override close(cb: Callback): void {
    // Gets already asked for go out first, as they would have without the queue.
    this.flush();
    this.inner.close(cb);
  }

  override get(key: unknown, options: object, cb: Callback): void {
    if (!this.inner.getMany || (typeof key === 'string' && key.startsWith(LARGE_VALUES))) {
      this.inner.get(key, options, cb);
      return;
    }
    this.queued.push({ key, options, cb });
    if (this.queued.length === 1) process.nextTick(() => this.flush());
  }

  /** Sends the tick's gets: one getMany per run of up to MAX_KEYS gets with the same options, a plain get for a lone one. */
  private flush(): void {
    const gets = this.queued;
    this.queued = [];
    const groups = new Map<string, QueuedGet[]>();
    for (const get of gets) {
      const k = optionsKey(get.options);
      const group = groups.get(k);
      if (group) group.push(get);
      else groups.set(k, [get]);
    }
    for (const group of groups.values()) {
      for (let at = 0; at < group.length; at += MAX_KEYS) this.send(group.slice(at, at + MAX_KEYS));
    }
  }

  private send(gets: QueuedGet[]): void {
    if (gets.length === 1) {
      const [{ key, options, cb }] = gets as [QueuedGet];
      this.inner.get(key, options, cb);
      return;
    }
    this.counts.getMany++;
    this.counts.keys += gets.length;
    this.inner.getMany!(
      gets.map((g) => g.key),
      gets[0]!.options,
      (err, values) => {
        gets.forEach(({ cb }, i) => {
          const value = (values as unknown[] | undefined)?.[i];
          if (err) cb(err);
          else if (value === undefined) cb(notFound());
          else cb(null, value);
        });
      },
    );
  }
}
