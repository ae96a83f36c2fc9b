// The persistent outgoing queue. Each item (one message to one recipient) is
// written to the document store (a blob for the bytes, a doc for the state)
// before the gateway answers 250, then relayed to the provider's submission
// server. Network errors and 4xx replies are retried with exponential
// backoff; 5xx becomes a bounce for the sender's INBOX. A restart reloads the
// queue: nothing is lost, and an item marked sent is never sent again.
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DocumentStore } from '../soledad/types.js';
import { logger } from '../util/log.js';
import { buildBounce } from './bounce.js';
import { Relay, type RelayConfig, type RelayOutcome } from './relay.js';

const log = logger('smtp.queue');

export const OUTGOING_DOC = 'outgoing';
/** A submission being received or turned into copies; left over only by a crash, removed at start. */
const SPOOL_DOC = 'outgoing-spool';

/** A submission written to the store as it arrived (encrypted at rest like the queue). */
export interface Spool {
  size: number;
  open(): Readable;
  /** Deletes it (the copies are queued, or the message was refused). */
  discard(): Promise<void>;
}

export interface OutgoingItem {
  id: string;
  from: string;
  to: string;
  messageId: string;
  /** The original Subject field value (the queued copy may carry "..." when it is protected), for bounces. */
  subject?: string;
  blobId: string;
  size: number;
  queuedAt: string;
  state: 'queued' | 'sent' | 'bounced';
  attempts: number;
  nextAttemptAt: string;
  lastError?: string;
  doneAt?: string;
}

export interface BackoffOptions {
  /** First retry delay; default 1 minute. */
  initialMs?: number;
  /** Multiplier per attempt; default 2. */
  factor?: number;
  /** Longest delay between attempts; default 4 hours. */
  maxMs?: number;
  /** Give up (and bounce) when an item is older than this; default 5 days. */
  giveUpAfterMs?: number;
}

export interface OutgoingQueueOptions {
  /** A local, non-synced store (one device sends its own queue), encrypted at rest. */
  store: DocumentStore;
  /** The provider's submission server, per sender address or one for all. */
  relay: RelayConfig | ((from: string) => RelayConfig);
  /** Receives a readable RFC 3464 bounce for a permanent failure (the daemon appends it to INBOX). */
  deliverBounce: (raw: Buffer, item: OutgoingItem) => Promise<void>;
  backoff?: BackoffOptions;
  /** Sent and bounced items are forgotten after this many days (they dedupe resubmissions until then); default 7. */
  keepDoneDays?: number;
  /** How many items are relayed at once; default 2. */
  concurrency?: number;
  now?: () => Date;
}

export class OutgoingQueue {
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly relays = new Map<string, Relay>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly now: () => Date;
  private readonly backoff: Required<BackoffOptions>;

  constructor(private readonly opts: OutgoingQueueOptions) {
    this.now = opts.now ?? (() => new Date());
    this.backoff = {
      initialMs: opts.backoff?.initialMs ?? 60_000,
      factor: opts.backoff?.factor ?? 2,
      maxMs: opts.backoff?.maxMs ?? 4 * 3600_000,
      giveUpAfterMs: opts.backoff?.giveUpAfterMs ?? 5 * 24 * 3600_000,
    };
  }

  /** Stable per (message, sender, recipient): a client resubmitting after a lost 250 does not queue it twice. */
  static itemId(messageId: string, from: string, to: string): string {
    return createHash('sha256').update(`${messageId}\n${from.toLowerCase()}\n${to.toLowerCase()}`).digest('hex').slice(0, 32);
  }

  /**
   * Takes in a submission as it arrives. Up to `inMemoryMax` (default 1 MB)
   * it stays in memory (most mail: no store writes for it); beyond, it goes
   * to the store as it comes, so no more than that is ever held. Null (and
   * nothing kept) when it exceeds `maxSize`: the rest is still read, so the
   * SMTP dialogue can answer 552.
   */
  async spool(source: AsyncIterable<Buffer>, maxSize: number, inMemoryMax = 1024 * 1024): Promise<Spool | null> {
    const it = source[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { value, done } = await it.next();
      if (done) {
        if (total > maxSize) return null;
        const whole = Buffer.concat(head, total);
        return { size: total, open: () => Readable.from([whole]), discard: async () => undefined };
      }
      head.push(value);
      total += value.length;
      if (total > inMemoryMax) break;
    }
    if (total > maxSize) {
      for (let r = await it.next(); !r.done; r = await it.next());
      return null;
    }
    const id = `spool-${randomUUID()}`;
    await this.opts.store.put(SPOOL_DOC, id, { at: this.now().toISOString() });
    const discard = async (): Promise<void> => {
      await this.opts.store.deleteBlob(id).catch(() => undefined);
      await this.opts.store.delete(SPOOL_DOC, id).catch(() => undefined);
    };
    const limited = async function* (): AsyncGenerator<Buffer> {
      yield* head.splice(0);
      for (let r = await it.next(); !r.done; r = await it.next()) {
        total += r.value.length;
        if (total <= maxSize) yield r.value;
      }
    };
    try {
      const { size } = await this.opts.store.putBlob(id, limited());
      if (total > maxSize) {
        await discard();
        return null;
      }
      return { size, open: () => this.opts.store.readBlob(id), discard };
    } catch (err) {
      await discard();
      throw err;
    }
  }

  /** Writes the item durably; resolves only when it is in the store. Returns the item (an existing one if already queued). */
  async enqueue(input: { from: string; to: string; messageId: string; raw: Buffer | AsyncIterable<Buffer>; subject?: string }): Promise<OutgoingItem> {
    const id = OutgoingQueue.itemId(input.messageId, input.from, input.to);
    const existing = await this.opts.store.get<OutgoingItem>(OUTGOING_DOC, id);
    if (existing) return existing;
    const blobId = `outgoing-${id}`;
    let size: number;
    try {
      ({ size } = await this.opts.store.putBlob(blobId, input.raw));
    } catch (err) {
      await this.opts.store.deleteBlob(blobId).catch(() => undefined);
      throw err;
    }
    const now = this.now().toISOString();
    const item: OutgoingItem = {
      id, from: input.from, to: input.to, messageId: input.messageId, ...(input.subject ? { subject: input.subject } : {}), blobId, size,
      queuedAt: now, state: 'queued', attempts: 0, nextAttemptAt: now,
    };
    await this.opts.store.put(OUTGOING_DOC, id, item);
    if (this.running) this.schedule(id, Date.parse(now));
    return item;
  }

  /** Loads every pending item and starts relaying. */
  async start(): Promise<void> {
    this.running = true;
    const forgetBefore = this.now().getTime() - (this.opts.keepDoneDays ?? 7) * 24 * 3600_000;
    const forget: string[] = [];
    for await (const doc of this.opts.store.query<OutgoingItem>(OUTGOING_DOC)) {
      if (doc.content.state === 'queued') this.due.set(doc.id, Date.parse(doc.content.nextAttemptAt));
      else if (Date.parse(doc.content.doneAt ?? doc.content.queuedAt) < forgetBefore) forget.push(doc.id);
    }
    for (const id of forget) await this.opts.store.delete(OUTGOING_DOC, id);
    // Submissions a crash interrupted: never answered 250, so the client sends them again.
    const spools: string[] = [];
    for await (const doc of this.opts.store.query(SPOOL_DOC)) spools.push(doc.id);
    for (const id of spools) {
      await this.opts.store.deleteBlob(id).catch(() => undefined);
      await this.opts.store.delete(SPOOL_DOC, id);
    }
    log.info({ pending: this.due.size }, 'outgoing queue started');
    this.tick();
  }

  /** Stops relaying; waits for attempts in flight; closes connections. Items stay queued in the store. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight.values()]);
    for (const r of this.relays.values()) r.close();
    this.relays.clear();
    this.due.clear();
  }

  async get(id: string): Promise<OutgoingItem | null> {
    return this.opts.store.get<OutgoingItem>(OUTGOING_DOC, id);
  }

  async list(): Promise<OutgoingItem[]> {
    const out: OutgoingItem[] = [];
    for await (const d of this.opts.store.query<OutgoingItem>(OUTGOING_DOC)) out.push(d.content);
    return out;
  }

  /** Retry everything now (e.g. the network came back). */
  flush(): void {
    const now = this.now().getTime();
    for (const id of this.due.keys()) this.due.set(id, now);
    this.tick();
  }

  /** Resolves when nothing is queued or in flight (for tests and `sealmail` one-shot sends). */
  async idle(): Promise<void> {
    while (this.due.size > 0 || this.inFlight.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private schedule(id: string, at: number): void {
    this.due.set(id, at);
    this.tick();
  }

  private tick(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = this.now().getTime();
    const limit = this.opts.concurrency ?? 2;
    let next = Infinity;
    for (const [id, at] of this.due) {
      if (this.inFlight.has(id)) continue;
      if (at <= now && this.inFlight.size < limit) {
        const p = this.attemptSafely(id).finally(() => {
          this.inFlight.delete(id);
          this.tick();
        });
        this.inFlight.set(id, p);
      } else if (at > now) next = Math.min(next, at);
    }
    if (next !== Infinity) {
      // Timers are capped so a clock jump or a multi-hour delay cannot overflow setTimeout.
      this.timer = setTimeout(() => this.tick(), Math.min(Math.max(0, next - now), 2 ** 30));
      this.timer.unref?.();
    }
  }

  private relayFor(from: string): Relay {
    const cfg = typeof this.opts.relay === 'function' ? this.opts.relay(from) : this.opts.relay;
    // The token is part of the key: a renewed session token gets a fresh transport.
    const key = `${cfg.host}:${cfg.port}:${cfg.user}:${cfg.token}`;
    let r = this.relays.get(key);
    if (!r) this.relays.set(key, (r = new Relay(cfg)));
    return r;
  }

  /** Any unexpected failure (store, relay configuration) counts as temporary: the item stays queued. */
  private async attemptSafely(id: string): Promise<void> {
    try {
      await this.attempt(id);
    } catch (err) {
      const message = (err as Error).message;
      log.error({ item: id, err: message }, 'relay attempt failed unexpectedly; will retry');
      const item = await this.opts.store.get<OutgoingItem>(OUTGOING_DOC, id).catch(() => null);
      if (item?.state === 'queued') await this.retryLater(item, item.attempts + 1, message, this.now()).catch(() => undefined);
      else if (this.running) this.due.set(id, this.now().getTime() + this.backoff.initialMs);
    }
  }

  private async attempt(id: string): Promise<void> {
    const item = await this.opts.store.get<OutgoingItem>(OUTGOING_DOC, id);
    if (!item || item.state !== 'queued') {
      this.due.delete(id);
      return;
    }
    const outcome: RelayOutcome = await this.relayFor(item.from).send({
      from: item.from,
      to: item.to,
      message: this.opts.store.readBlob(item.blobId),
    });
    const now = this.now();
    if (outcome.ok) {
      await this.finish({ ...item, state: 'sent', attempts: item.attempts + 1, doneAt: now.toISOString(), lastError: undefined });
      log.info({ item: id, attempts: item.attempts + 1 }, 'relayed');
      return;
    }
    const attempts = item.attempts + 1;
    const tooOld = now.getTime() - Date.parse(item.queuedAt) >= this.backoff.giveUpAfterMs;
    if (outcome.permanent || tooOld) {
      const diagnostic = outcome.permanent ? outcome.error : `4.4.7 gave up after ${attempts} attempts; last error: ${outcome.error}`;
      const bounced: OutgoingItem = { ...item, state: 'bounced', attempts, lastError: outcome.error, doneAt: now.toISOString() };
      try {
        await this.opts.deliverBounce(await this.bounceFor(bounced, diagnostic, !outcome.permanent), bounced);
      } catch (err) {
        log.error({ item: id, err: (err as Error).message }, 'could not deliver the bounce; will retry');
        return this.retryLater(item, attempts, outcome.error, now);
      }
      await this.finish(bounced);
      log.warn({ item: id, attempts, permanent: outcome.permanent }, 'bounced');
      return;
    }
    await this.retryLater(item, attempts, outcome.error, now);
  }

  private async retryLater(item: OutgoingItem, attempts: number, error: string, now: Date): Promise<void> {
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * this.backoff.factor ** (attempts - 1));
    const next = now.getTime() + delay;
    await this.opts.store.put(OUTGOING_DOC, item.id, { ...item, attempts, lastError: error, nextAttemptAt: new Date(next).toISOString() });
    log.info({ item: item.id, attempts, retryInMs: delay }, 'relay failed; will retry');
    if (this.running) this.due.set(item.id, next);
  }

  /** Marks the item done durably first, then drops its bytes. */
  private async finish(item: OutgoingItem): Promise<void> {
    await this.opts.store.put(OUTGOING_DOC, item.id, item);
    this.due.delete(item.id);
    await this.opts.store.deleteBlob(item.blobId).catch(() => undefined);
  }

  private async bounceFor(item: OutgoingItem, diagnostic: string, gaveUp: boolean): Promise<Buffer> {
    let headers = await readHeaders(this.opts.store, item.blobId);
    if (item.subject) headers = headers.replace(/^Subject:[^\r\n]*(\r\n[ \t][^\r\n]*)*/im, `Subject: ${item.subject}`);
    return buildBounce({
      from: item.from, to: item.to, messageId: item.messageId, originalHeaders: headers,
      queuedAt: item.queuedAt, diagnostic, status: gaveUp ? '4.4.7' : undefined, now: this.now(),
    });
  }
}

/** The header block of a queued message, read from the start of its blob only. */
async function readHeaders(store: DocumentStore, blobId: string): Promise<string> {
  let acc = Buffer.alloc(0);
  for await (const chunk of store.readBlob(blobId)) {
    acc = Buffer.concat([acc, chunk as Buffer]);
    const end = acc.indexOf('\r\n\r\n');
    if (end >= 0) return acc.subarray(0, end + 2).toString('latin1');
    if (acc.length > 256 * 1024) break;
  }
  return acc.toString('latin1');
}
