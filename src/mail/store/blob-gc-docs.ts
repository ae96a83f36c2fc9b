// The synced documents of blob garbage collection (rules: blob-gc.ts) and the
// hook that storing content calls (content.ts): a device that stores content
// while a deletion of that blob may be under way cancels it and writes the
// blob again.
import type { Readable } from 'node:stream';
import type { DocumentStore } from '../../soledad/types.js';
import { MailStoreError } from '../mailstore.js';

export const GC_DOC = {
  /** One per content hash (id = hash): a proposal to delete that blob. */
  intent: 'blob-gc',
  /** One per device (id = device id): when it last ran, and what it acknowledged or cancelled. */
  checkin: 'device-checkin',
} as const;

/** pending: proposed, waiting; cancelled: some device needs the blob; deleted: done. */
export type IntentState = 'pending' | 'cancelled' | 'deleted';

export interface GcIntentDoc {
  v: 1;
  /** A blob unused again after a cancel gets a new round (max(last + 1, epoch ms): never reused); the higher wins a merge. */
  round: number;
  state: IntentState;
  /** The proposing device (it deletes); the lower id when two proposed the same round at once. */
  by: string;
  /** Epoch ms on the proposer's clock: the grace period runs from here. */
  proposedAt: number;
  /** blobVersion() of the write proposed for deletion: a rewrite since is never deleted. */
  write: string;
  /** Bytes of the blob (reported as freed). */
  size: number;
  /** Epoch ms the round was cancelled or deleted; null while pending. */
  settledAt: number | null;
}

export interface CheckinDoc {
  v: 1;
  /** Writes of it so far: the later version of the one writer's document has the higher count. */
  n: number;
  /** Epoch ms (this device's clock) of its last GC pass over the synced state. */
  seenAt: number;
  /** hash -> round: pending intents this device saw with no live entry for the hash. */
  acks: Record<string, number>;
  /** hash -> round: pending intents this device cancelled (it has, or just stored, that content). */
  cancels: Record<string, number>;
}

const RANK: Record<IntentState, number> = { pending: 0, deleted: 1, cancelled: 2 };

/**
 * Merge of two versions of an intent (sync conflicts): the higher round wins;
 * within a round "cancel wins" (cancelled over deleted over pending), and the
 * proposer is the lower id. Commutative, associative, idempotent.
 */
export function mergeIntent(a: GcIntentDoc, b: GcIntentDoc): GcIntentDoc {
  if (a.round !== b.round) return a.round > b.round ? a : b;
  const state = RANK[a.state] >= RANK[b.state] ? a.state : b.state;
  const first = a.by < b.by || (a.by === b.by && a.write <= b.write) ? a : b;
  const settled = Math.max(a.settledAt ?? 0, b.settledAt ?? 0);
  return {
    v: 1,
    round: a.round,
    state,
    by: first.by,
    proposedAt: Math.max(a.proposedAt, b.proposedAt),
    write: first.write,
    size: Math.max(a.size, b.size),
    settledAt: state === 'pending' ? null : settled || null,
  };
}

/** A device's check-in has one writer (that device): a concurrent version is only a replay; keep the later. */
export function mergeCheckin(a: CheckinDoc, b: CheckinDoc): CheckinDoc {
  if (a.n !== b.n) return a.n > b.n ? a : b;
  if (a.seenAt !== b.seenAt) return a.seenAt > b.seenAt ? a : b;
  return JSON.stringify(a) <= JSON.stringify(b) ? a : b;
}

/** Merge rules in the shape Soledad's registerMerge takes. */
export const BLOB_GC_MERGE_RULES = {
  [GC_DOC.intent]: { merge: mergeIntent },
  [GC_DOC.checkin]: { merge: mergeCheckin },
} as const;

/** What a running collector does when this device stores content again: records a cancel of that round. */
type CancelHook = (hash: string, round: number) => Promise<void>;

const cancelHooks = new WeakMap<DocumentStore, CancelHook>();

/** Registered by the collector of a store (blob-gc.ts); null unregisters. */
export function setCancelHook(docs: DocumentStore, hook: CancelHook | null): void {
  if (hook) cancelHooks.set(docs, hook);
  else cancelHooks.delete(docs);
}

/**
 * Content stored lately, per store: its entry is written after the content
 * (through the mail store's queue), so for a while the index does not show
 * it. The collector counts these hashes as live: it neither acks a deletion
 * of them nor deletes them, even if the intent arrived after storeContent
 * looked for one.
 */
const recentlyStored = new WeakMap<DocumentStore, Map<string, number>>();

function noteStored(docs: DocumentStore, hash: string): void {
  let map = recentlyStored.get(docs);
  if (!map) recentlyStored.set(docs, (map = new Map()));
  map.delete(hash);
  map.set(hash, Date.now());
}

/** Notes older than this are dropped (no window asked for is longer). */
const KEEP_NOTES_MS = 3600_000;

/** Hashes storeContent stored into `docs` within the last `windowMs` (at most an hour). */
export function storedLately(docs: DocumentStore, windowMs: number): string[] {
  const map = recentlyStored.get(docs);
  if (!map) return [];
  const now = Date.now();
  const out: string[] = [];
  // Oldest first (insertion order, re-inserted on each store).
  for (const [hash, at] of map) {
    if (at < now - KEEP_NOTES_MS) map.delete(hash);
    else if (at > now - windowMs) out.push(hash);
  }
  return out;
}

/**
 * Hashes with an intent that is not cancelled (pending or deleted), per
 * store, kept by a running collector (followIntents) so storing content
 * reads no document for the others (nearly every store). It may hold more
 * than that (reads, never wrong answers); an intent it misses is one that
 * arrived by sync and has not come through the changes feed yet (ms), the
 * same window as an intent arriving just after storeContent read: the
 * collector counts content stored lately as live, so it neither acks nor
 * deletes it, and its next pass cancels the round. A round reaches
 * "deleted" only once this device's pass acked it, and each pass adds what
 * it read (rememberIntents): a deletion is never missed.
 */
interface IntentMemory {
  unsettled: Set<string>;
  /** Filled (the feed runs and the intents were listed); until then every store reads. */
  ready: boolean;
}

const intentMemory = new WeakMap<DocumentStore, IntentMemory>();

function unsettled(doc: GcIntentDoc | null): boolean {
  return doc !== null && doc.state !== 'cancelled';
}

/** A collector's pass: the intents it read or wrote (added only; the feed removes). */
export function rememberIntents(docs: DocumentStore, intents: Iterable<[string, GcIntentDoc]>): void {
  const mem = intentMemory.get(docs);
  if (!mem) return;
  for (const [hash, doc] of intents) if (unsettled(doc)) mem.unsettled.add(hash);
}

/** Whether memory has an unsettled intent for `hash`; null while no memory answers for the store (diagnostics, tests). */
export function intentInMemory(docs: DocumentStore, hash: string): boolean | null {
  const mem = intentMemory.get(docs);
  return mem?.ready ? mem.unsettled.has(hash) : null;
}

/**
 * Keeps the set of unsettled intents of `docs` from their changes feed (own
 * writes, sync, merges) until the returned stop is called or the store
 * closes. The intents are listed a second after the feed started (it takes
 * its start point a moment after it is first pulled), so a write in between
 * is seen by one or the other; a write the listing sees older than the feed
 * (it changed during the listing) is taken from the feed.
 */
export function followIntents(docs: DocumentStore): () => void {
  const abort = new AbortController();
  const mem: IntentMemory = { unsettled: new Set(), ready: false };
  intentMemory.set(docs, mem);
  const fromFeed = new Set<string>();
  const done = (): void => {
    if (intentMemory.get(docs) === mem) intentMemory.delete(docs);
  };
  const feed = async (): Promise<void> => {
    for await (const c of docs.changes<GcIntentDoc>({ since: 'now', live: true, signal: abort.signal, types: [GC_DOC.intent] })) {
      if (c.type !== GC_DOC.intent) continue;
      if (!mem.ready) fromFeed.add(c.id);
      if (unsettled(c.content)) mem.unsettled.add(c.id);
      else mem.unsettled.delete(c.id);
    }
  };
  const list = async (): Promise<void> => {
    await new Promise((r) => setTimeout(r, 1000).unref());
    if (abort.signal.aborted) return;
    for await (const d of docs.query<GcIntentDoc>(GC_DOC.intent)) {
      if (!fromFeed.has(d.id) && unsettled(d.content)) mem.unsettled.add(d.id);
    }
    fromFeed.clear();
    mem.ready = !abort.signal.aborted && intentMemory.get(docs) === mem;
  };
  // The feed ends when the store closes: every store reads again.
  feed().then(done, done);
  list().catch(done);
  return () => {
    abort.abort();
    done();
  };
}

/**
 * Called by storeContent before it stores `hash` (inside its per-hash lock).
 * True when a deletion of that blob is pending or done somewhere: the blob
 * must then be written again even if it is here (a new write the deleter
 * never deletes, see GcIntentDoc.write), and this device's check-in records
 * the cancel. False (the common case: no intent, known from memory or one
 * read of a missing document) otherwise.
 */
export async function contentNeededAgain(docs: DocumentStore, hash: string): Promise<boolean> {
  noteStored(docs, hash);
  const mem = intentMemory.get(docs);
  if (mem?.ready && !mem.unsettled.has(hash)) return false;
  const intent = await docs.get<GcIntentDoc>(GC_DOC.intent, hash);
  if (!intent || intent.state === 'cancelled') return false;
  if (intent.state === 'pending') await cancelHooks.get(docs)?.(hash, intent.round);
  return true;
}

/**
 * A message's bytes as DocumentStore.readBlob streams them, except that a
 * blob that is not here fails with NO [NONEXISTENT] and a sentence for the
 * client (an IMAP NO, not a server bug): not synced yet, or collected while
 * an entry from a device gone too long still referred to it (blob-gc.ts).
 */
export function readStoredContent(docs: DocumentStore, hash: string, start?: number, end?: number): Readable {
  // The store fails the stream with our error itself: no wrapper stream on every read (every FETCH of a body).
  return docs.readBlob(hash, start, end, { missing: contentNotHere });
}

const contentNotHere = (): Error =>
  new MailStoreError('NONEXISTENT', 'The content of this message is not stored on this device (not synced yet, or deleted after it was expunged everywhere)');
