// The incoming loop (DESIGN.md "Incoming", steps 3–4): for every incoming
// document the provider's MX wrote, decrypt it with the account's private key,
// open any end-to-end PGP inside it, import keys it carries, put our status
// headers on it, store it through the mail model, and only then delete the
// incoming document. Every step is idempotent (the store dedupes by content
// and by the incoming doc's id), so a kill at any moment followed by a restart
// loses nothing and duplicates nothing.
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingDoc } from '../soledad/types.js';
import { logger } from '../util/log.js';
import { applyStatusHeaders, type MessageStatus } from './status-headers.js';
import { undecryptableNotice } from './notice.js';
import { StoreBatcher } from './store-batcher.js';

const log = logger('fetch');

/** What the loop needs from the rest of the daemon; small on purpose. */
export interface FetchDeps {
  /** Incoming documents: the existing ones, then new ones as sync brings them. */
  incoming(opts: { live: boolean; signal?: AbortSignal }): AsyncIterable<IncomingDoc>;
  removeIncoming(id: string): Promise<void>;
  /** Records (locally) that a document could not be processed, so it is reported and retried later, not in a hot loop. */
  markIncoming(id: string, note: { error: string; attempts: number }): Promise<void>;
  /** Decrypts the MX's encryption layer with the account's private key. */
  decrypt(ciphertext: Readable): Promise<Buffer>;
  /** Opens end-to-end PGP inside the message (PGP/MIME or inline), verifies signatures, imports keys it carries. */
  open(raw: Buffer): Promise<{ raw: Buffer; status: MessageStatus }>;
  /** Stores the message in a mailbox; idempotent for the same deliveryId. */
  deliver(mailbox: string, raw: Buffer, opts: { deliveryId: string; internalDate: number }): Promise<void>;
  /**
   * Stores several messages in one go, UIDs in the order given; per item
   * null (stored) or the error that kept it from being stored. Rejects when
   * the batch as a whole failed (the loop then stores its messages one by
   * one). Without it every message goes through deliver on its own.
   */
  deliverMany?(mailbox: string, items: Array<{ raw: Buffer; deliveryId: string; internalDate: number }>): Promise<Array<Error | null>>;
  /** Deletes several incoming documents in one write; without it (or when it fails) removeIncoming each. */
  removeIncomingMany?(ids: string[]): Promise<void>;
  /** Expunges an earlier delivery if it is still in the mailbox (a notice that became obsolete). */
  retract?(mailbox: string, deliveryId: string): Promise<void>;
  /**
   * Yields whenever the account's own keys change (imported, renewed, synced
   * from another device): documents kept as undecryptable are tried again.
   */
  keyChanges?(signal: AbortSignal): AsyncIterable<unknown>;
  /** Device-local memory of the status given to a message being delivered (see FetchLoop.stableStatus; status-memo.ts). */
  statusMemo?: {
    get(id: string): Promise<MessageStatus | null>;
    /** Several messages' statuses in one write; the store batcher writes a batch's before storing it. */
    put(entries: Array<{ id: string; status: MessageStatus }>): Promise<void>;
    /** Forgets a message's memo, if it has one. */
    delete(id: string): Promise<void>;
  };
}

/** The delivery id of the notice about an incoming document that could not be decrypted. */
const noticeDeliveryId = (incomingId: string): string => `notice:${incomingId}`;

const isPlain = (s: MessageStatus): boolean => s.encryption === 'none' && s.signature === 'none';

/**
 * Documents processed at once. Messages that are decrypted and opened wait
 * for the store in a batch (deliverMany): while one batch is being stored
 * the next accumulates, so a burst costs a few commits per batch instead of
 * several per message (each commit is a LevelDB batch and a changes() query
 * per live feed), and no message waits when the loop is idle. A message
 * keeps its slot until it is stored and its incoming doc deleted, so there
 * are slots enough for one batch to be stored while the next is decrypted.
 * Within a batch UIDs follow arrival order. 64 rather than 32: larger
 * batches, fewer commits and changes queries per message (bench/fetch-ingest,
 * 4 alternated runs: median 317 -> 340 msg/s, 4.5 -> 4.4 ms CPU/msg); memory
 * stays bounded by BYTES_IN_FLIGHT.
 */
const CONCURRENCY = 64;
/**
 * ...but never more than this many bytes of (encrypted) messages in flight,
 * so a burst of large mail does not hold all of them decrypted in memory at
 * once; a single message larger than this still goes, alone.
 */
const BYTES_IN_FLIGHT = 16 * 1024 * 1024;

/** Longest wait between store retries while the disk is full (other store errors back off to a minute). */
const DISK_FULL_RETRY_MAX_MS = 5000;

export interface FetchStats {
  processed: number;
  failed: number;
  /** Incoming documents we could not decrypt and keep (reported in INBOX). */
  undecryptable: Set<string>;
}

export class FetchLoop {
  readonly stats: FetchStats = { processed: 0, failed: 0, undecryptable: new Set() };
  private readonly attempts = new Map<string, number>();
  private controller: AbortController | null = null;
  private running: Promise<void> | null = null;
  /** Documents being processed, by id: the live feed and key-change retries never run the same one twice at once. */
  private readonly inflight = new Map<string, Promise<boolean>>();
  /** Runs waiting for a slot (CONCURRENCY, BYTES_IN_FLIGHT; shared by the feed and retries), in arrival order. */
  private readonly waiting: Array<{ size: number; start: () => void }> = [];
  /** Sizes of the documents running now (see BYTES_IN_FLIGHT). */
  private bytesInFlight = 0;
  private slotsTaken = 0;
  /** Arrival counter: a batch's messages get their UIDs in this order. */
  private arrivals = 0;
  private readonly batcher: StoreBatcher;

  /** First wait before following a failed feed again (doubles up to a minute). */
  private readonly retryMs: number;
  /**
   * Another pass over messages whose store failed (a full disk, a store
   * error): the live feed does not offer them again, so without it they
   * waited for a restart or a key change. Backs off like the feed.
   */
  private storeRetry: NodeJS.Timeout | null = null;
  private storeRetryMs = 0;
  private storeFailures = 0;

  constructor(
    /** What the loop was given (read by bench/fetch-ingest.ts, which times the decrypt side alone with the same parts). */
    readonly deps: FetchDeps,
    opts: { retryMs?: number } = {},
  ) {
    this.retryMs = opts.retryMs ?? 1000;
    this.batcher = new StoreBatcher(deps);
  }

  /** Store batches so far and the messages in them (tests, the bench). */
  get batchCounts(): { readonly batches: number; readonly messages: number } {
    return this.batcher.counts;
  }

  /** Starts following the incoming feed; resolves once started. */
  start(): void {
    if (this.running) return;
    this.controller = new AbortController();
    const { signal } = this.controller;
    this.running = Promise.all([this.follow(signal), this.retryOnKeyChanges(signal)]).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    if (this.storeRetry) clearTimeout(this.storeRetry);
    this.storeRetry = null;
    await this.running?.catch(() => undefined);
    this.running = null;
  }

  /** Processes what is there now and returns (for tests, `sealmail` one-shot runs, and retries after key changes). */
  async drain(): Promise<void> {
    await this.consume(this.deps.incoming({ live: false }));
  }

  /** Processes a feed's documents, up to CONCURRENCY at once; returns once the feed ended and they are done. */
  private async consume(docs: AsyncIterable<IncomingDoc>, signal?: AbortSignal): Promise<void> {
    const pending = new Set<Promise<boolean>>();
    try {
      for await (const doc of docs) {
        if (signal?.aborted) break;
        const p: Promise<boolean> = this.process(doc).finally(() => pending.delete(p));
        pending.add(p);
        if (pending.size >= CONCURRENCY) await Promise.race(pending);
      }
    } finally {
      await Promise.all(pending);
    }
  }

  /**
   * Runs a feed consumer until the loop stops. A feed that fails (a broken
   * changes feed, a store error) is followed again after a backoff instead of
   * leaving the account without incoming mail until the next start; a feed
   * that simply ends (its store is closing) is not.
   */
  private async keepFollowing(what: string, signal: AbortSignal, consume: () => Promise<void>): Promise<void> {
    let delay = this.retryMs;
    while (!signal.aborted) {
      try {
        await consume();
        return;
      } catch (err) {
        if (signal.aborted) return;
        log.error({ err: (err as Error).message, retryInMs: delay }, `${what} failed; following it again`);
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }

  private follow(signal: AbortSignal): Promise<void> {
    // Each pass lists the existing documents first, so nothing that arrived while the feed was down is missed.
    return this.keepFollowing('incoming feed', signal, () => this.consume(this.deps.incoming({ live: true, signal }), signal));
  }

  private retryOnKeyChanges(signal: AbortSignal): Promise<void> {
    const { keyChanges } = this.deps;
    if (!keyChanges) return Promise.resolve();
    return this.keepFollowing('key change feed', signal, async () => {
      for await (const _ of keyChanges(signal)) {
        if (signal.aborted) break;
        if (this.stats.undecryptable.size === 0 && this.stats.failed === 0) continue;
        log.info({ kept: this.stats.undecryptable.size }, 'keys changed; trying kept incoming messages again');
        await this.drain();
      }
    });
  }

  /** One incoming document, start to finish, once a slot is free (if it is already in flight: that run). Never throws. */
  process(doc: IncomingDoc): Promise<boolean> {
    const running = this.inflight.get(doc.id);
    if (running) return running;
    const size = Math.max(0, doc.size || 0);
    const seq = this.arrivals++;
    const run = (async () => {
      if (!this.hasRoomFor(size) || this.waiting.length > 0) await new Promise<void>((start) => this.waiting.push({ size, start }));
      else this.take(size);
      try {
        return await this.processNow(doc, seq);
      } finally {
        this.inflight.delete(doc.id);
        this.slotsTaken--;
        this.bytesInFlight -= size;
        // Wake waiting runs in order while they fit (the first always fits when nothing runs).
        while (this.waiting.length > 0 && this.hasRoomFor(this.waiting[0]!.size)) {
          const next = this.waiting.shift()!;
          this.take(next.size);
          next.start();
        }
      }
    })();
    this.inflight.set(doc.id, run);
    return run;
  }

  private hasRoomFor(size: number): boolean {
    return this.slotsTaken === 0 || (this.slotsTaken < CONCURRENCY && this.bytesInFlight + size <= BYTES_IN_FLIGHT);
  }

  private take(size: number): void {
    this.slotsTaken++;
    this.bytesInFlight += size;
  }

  private async processNow(doc: IncomingDoc, seq: number): Promise<boolean> {
    let ciphertext: Readable;
    try {
      ciphertext = await doc.open();
    } catch (err) {
      // Listed, then removed before we got to it (a key-change retry, or another device of the account did it).
      if ((err as { status?: number }).status === 404) return false;
      this.stats.failed++;
      log.error({ id: doc.id, err: (err as Error).message }, 'could not read incoming message; kept for retry');
      return false;
    }
    let plain: Buffer;
    try {
      plain = await this.deps.decrypt(ciphertext);
    } catch (err) {
      await this.reportUndecryptable(doc, err as Error);
      return false;
    }
    try {
      const opened = await this.deps.open(plain);
      const { status, remember } = await this.stableStatus(doc.id, opened.status);
      const message = applyStatusHeaders(opened.raw, status);
      const internalDate = Date.parse(doc.receivedAt) || Date.now();
      const failed = await this.batcher.store(doc, seq, message, internalDate, remember ? status : null);
      if (failed) throw failed;
      // A memo left behind is harmless (the next start drops it with its incoming doc gone).
      await this.deps.statusMemo?.delete(doc.id).catch((err: Error) => log.warn({ id: doc.id, err: err.message }, 'could not forget the status memo'));
      this.stats.processed++;
      this.stats.undecryptable.delete(doc.id);
      // The message is here now: the notice that it could not be decrypted
      // (made here or on another device) is obsolete. After the incoming doc
      // is gone, so a crash in between leaves at worst a stale notice.
      await this.deps.retract?.('INBOX', noticeDeliveryId(doc.id)).catch((err: Error) => log.warn({ id: doc.id, err: err.message }, 'could not remove the obsolete notice'));
      log.debug({ id: doc.id, size: doc.size }, 'incoming message stored');
      return true;
    } catch (err) {
      this.stats.failed++;
      this.storeFailures++;
      log.error({ id: doc.id, err: (err as Error).message }, 'could not store incoming message; kept for retry');
      this.retryStoresLater(err);
      return false;
    }
  }

  private retryStoresLater(err: unknown): void {
    if (this.storeRetry || !this.controller || this.controller.signal.aborted) return;
    // A full disk can have room again any moment (the store reopens itself then): retry within seconds.
    const max = /No space left on device|ENOSPC/i.test((err as Error)?.message ?? '') ? DISK_FULL_RETRY_MAX_MS : 60_000;
    this.storeRetryMs = Math.min(this.storeRetryMs ? this.storeRetryMs * 2 : this.retryMs, max);
    this.storeRetry = setTimeout(() => {
      this.storeRetry = null;
      if (!this.controller || this.controller.signal.aborted) return;
      const failuresBefore = this.storeFailures;
      log.info({ retryAfterMs: this.storeRetryMs }, 'trying incoming messages that could not be stored again');
      void this.drain().then(() => {
        if (this.storeFailures === failuresBefore) this.storeRetryMs = 0;
      }, () => undefined);
    }, this.storeRetryMs);
    this.storeRetry.unref?.();
  }

  /**
   * The status to put on the message. The store dedupes a repeated delivery
   * only when the bytes are the same, and a signature's status can change
   * between a crash past delivery and the retry (the signer's key arrived
   * meanwhile: unknown-key → valid), which would store the message twice. So
   * the first attempt's status is remembered (device-locally, by the store
   * batcher before it stores the message: `remember`) and reused. Plain mail
   * (no encryption, no signature) has nothing that can change and costs no
   * extra write.
   */
  private async stableStatus(id: string, fresh: MessageStatus): Promise<{ status: MessageStatus; remember: boolean }> {
    const memo = this.deps.statusMemo;
    if (!memo || isPlain(fresh)) return { status: fresh, remember: false };
    const earlier = await memo.get(id);
    // A different encryption outcome means different bytes anyway (the inner layer opened this time).
    if (earlier && earlier.encryption === fresh.encryption) return { status: earlier, remember: false };
    return { status: fresh, remember: true };
  }

  private async reportUndecryptable(doc: IncomingDoc, err: Error): Promise<void> {
    const earlier = Math.max(this.attempts.get(doc.id) ?? 0, doc.note?.attempts ?? 0);
    const attempts = earlier + 1;
    this.attempts.set(doc.id, attempts);
    this.stats.undecryptable.add(doc.id);
    log.warn({ id: doc.id, attempts, reason: err.message }, 'incoming message could not be decrypted; kept');
    try {
      // The notice goes in before the note is written: a note means the user
      // was told, so a retry (or a restart) never reports it again, even when
      // the reason's wording changed. A crash in between only repeats the
      // notice's delivery, which the store dedupes (same deliveryId and bytes).
      if (earlier === 0) {
        const notice = await undecryptableNotice(doc, err.message);
        await this.deps.deliver('INBOX', notice, { deliveryId: noticeDeliveryId(doc.id), internalDate: Date.parse(doc.receivedAt) || 0 });
      }
      await this.deps.markIncoming(doc.id, { error: err.message, attempts });
    } catch (noticeErr) {
      log.error({ id: doc.id, err: (noticeErr as Error).message }, 'could not report undecryptable message');
    }
  }
}
