// Fills the summary cache (summary-cache.ts) in the background, so that the
// first listing of mail never listed on this device — just restored, synced
// from another device, or after the cache was dropped — is served from memory
// instead of costing one structure read (and, for structures derived before
// they carried the listing lines, one header read) per message while the
// client waits.
//
// It starts a second after the index is ready (the daemon's start goes
// first) and takes every message whose summary is not cached, INBOX first
// and newest first (a client lists from the oldest: if it lists while the
// warm-up runs, the two meet in the middle and each message is read once,
// reads of one hash being shared); later, messages that arrive (sync, fetch
// loop) are queued as they show up. It is low priority: a few reads in
// flight, a macrotask turn between them so client commands interleave, and
// it stops short of the cache's bound (warming must not evict what clients
// use).
import { MailStoreError, type MailboxChange } from '../mailstore.js';
import type { MessageStructure } from '../structure/types.js';
import { MailIndex } from './mail-index.js';
import type { SummaryCache } from './summary-cache.js';
import { logger } from '../../util/log.js';

const log = logger('summary-warmer');

/** What the warmer needs of the mail store. */
export interface WarmSource {
  readonly index: MailIndex;
  readonly summaries: SummaryCache;
  /** Reads a structure document without keeping it in the store's structure LRU (shared with concurrent reads). */
  readStructure(hash: string): Promise<MessageStructure>;
  readHeader(hash: string, size: number): Promise<Buffer>;
  subscribe(listener: (change: MailboxChange) => void): () => void;
}

export interface WarmerOptions {
  /** Reads in flight (default 4). */
  concurrency?: number;
  /** Stop warming once the cache holds this fraction of its bound (default 0.8). */
  fill?: number;
  /** Also read each message's header for its listing lines, when its structure lacks them (default true). */
  headers?: boolean;
  /**
   * Wait this long after start() (default 1 s): a daemon's start (and its
   * first client's commands) go first; the persisted summaries are read then.
   */
  delayMs?: number;
}

/**
 * A structure that has not arrived yet (sync may bring the entry before the
 * message's blob and structure): tried again after 2, 4, 8, 16 and 32 s,
 * about as long as a 10k-message restore replicates; after that the first
 * listing reads it.
 */
const RETRY_MS = 2000;
const RETRIES = 5;

export class SummaryWarmer {
  private queue: string[] = [];
  private head = 0;
  private readonly queued = new Set<string>();
  private running = 0;
  private stopped = false;
  private unsubscribe: (() => void) | null = null;
  private waiters: Array<() => void> = [];
  private readonly retries = new Map<string, number>();
  /** Retries of structures not arrived yet (not waited for by idle()). */
  private readonly timers = new Set<NodeJS.Timeout>();
  private startTimer: NodeJS.Timeout | null = null;
  private readonly concurrency: number;
  private readonly fill: number;
  private readonly headers: boolean;
  private readonly delayMs: number;
  private warmed = 0;
  private started = 0;
  /** Between start() and the first queueing (the persisted summaries are being read). */
  private preparing = false;

  constructor(
    private readonly source: WarmSource,
    opts: WarmerOptions = {},
  ) {
    this.concurrency = opts.concurrency ?? 4;
    this.fill = opts.fill ?? 0.8;
    this.headers = opts.headers ?? true;
    this.delayMs = opts.delayMs ?? 1000;
  }

  /** Queues what is not cached (once the persisted summaries are in) and follows new messages. */
  start(): void {
    this.started = Date.now();
    this.preparing = true;
    this.unsubscribe = this.source.subscribe((c) => {
      if (c.kind === 'exists') this.enqueue(c.message.hash);
    });
    const begin = (): void => {
      this.startTimer = null;
      void this.source.summaries.loaded.then(() => {
        this.preparing = false;
        if (!this.stopped) for (const hash of this.newestFirst()) this.enqueue(hash);
        this.pump();
      });
    };
    // Not unref'd: a caller awaiting idle() keeps the process up for it (close() clears it).
    this.startTimer = setTimeout(begin, this.delayMs);
  }

  /** Resolves when nothing is queued or being read, retries aside (for benches and tests). */
  idle(): Promise<void> {
    if (!this.preparing && this.running === 0 && this.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops taking work and waits for the reads in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    this.preparing = false;
    this.queue = [];
    this.head = 0;
    this.queued.clear();
    while (this.running > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.wake();
  }

  /** INBOX, then the other mailboxes; in each, the newest (highest UID) first. */
  private *newestFirst(): Generator<string> {
    const slots = this.source.index.liveMailboxes();
    slots.sort((a, b) => Number(b.doc?.name === 'INBOX') - Number(a.doc?.name === 'INBOX'));
    for (const slot of slots) {
      for (let i = slot.uids.length - 1; i >= 0; i--) {
        const rec = slot.byUid.get(slot.uids[i]!);
        if (rec) yield MailIndex.meta(rec).hash;
      }
    }
  }

  private full(): boolean {
    const cache = this.source.summaries;
    return cache.usedBytes >= this.fill * cache.capacity;
  }

  /** Cached, with its listing lines when those are wanted (and can be had: the header size is known). */
  private complete(hash: string): boolean {
    const s = this.source.summaries.peek(hash);
    return s !== undefined && (!this.headers || s.listing !== undefined || s.headerSize === undefined);
  }

  private pending(): number {
    return this.queue.length - this.head;
  }

  private enqueue(hash: string): void {
    if (this.stopped || this.queued.has(hash) || this.complete(hash)) return;
    this.queued.add(hash);
    this.queue.push(hash);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency && this.pending() > 0) {
      if (this.full()) {
        log.info({ warmed: this.warmed, left: this.pending() }, 'summary cache full: warm-up stops here');
        this.queue = [];
        this.head = 0;
        this.queued.clear();
        break;
      }
      const hash = this.queue[this.head++]!;
      this.queued.delete(hash);
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (this.complete(hash)) continue;
      this.running++;
      void this.warm(hash).finally(() => {
        this.running--;
        // A macrotask turn between reads: client commands waiting for I/O go first.
        setImmediate(() => this.pump());
        this.wake();
      });
    }
    this.wake();
  }

  /** Tells the waiters once nothing is being read, and (unless stopped) nothing is left to read. */
  private wake(): void {
    if (this.running > 0) return;
    if (!this.stopped && (this.preparing || this.pending() > 0)) return;
    if (this.warmed > 0 && !this.stopped) {
      log.info({ warmed: this.warmed, ms: Date.now() - this.started }, 'summary cache warmed');
      this.warmed = 0;
    }
    for (const w of this.waiters.splice(0)) w();
  }

  private async warm(hash: string): Promise<void> {
    const cache = this.source.summaries;
    if (this.stopped) return;
    try {
      let summary = cache.peek(hash);
      if (!summary) summary = cache.put(hash, await this.source.readStructure(hash));
      if (this.headers && !summary.listing && summary.headerSize !== undefined && !this.stopped) {
        cache.setListing(hash, await this.source.readHeader(hash, summary.headerSize));
      }
      this.warmed++;
      this.retries.delete(hash);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof MailStoreError && err.code === 'NONEXISTENT') return this.retryLater(hash);
      // e.g. the store is closing: the summary is read on first use instead.
      log.debug({ hash, err: (err as Error).message }, 'summary not warmed');
    }
  }

  private retryLater(hash: string): void {
    const tries = (this.retries.get(hash) ?? 0) + 1;
    if (tries > RETRIES) {
      this.retries.delete(hash);
      return;
    }
    this.retries.set(hash, tries);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.enqueue(hash);
      this.wake();
    }, RETRY_MS * 2 ** (tries - 1));
    timer.unref();
    this.timers.add(timer);
  }
}
