// The synced documents of blob garbage collection (rules: blob-gc.ts) and the
// hook that storing content calls (content.ts): a device that stores content
// while a deletion of that blob may be under way cancels it and writes the
// blob again.
import { Readable } from 'node:stream';
import type { DocumentStore } from '../../soledad/types.js';
import { SoledadError } from '../../soledad/errors.js';
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
 * Called by storeContent before it stores `hash` (inside its per-hash lock).
 * True when a deletion of that blob is pending or done somewhere: the blob
 * must then be written again even if it is here (a new write the deleter
 * never deletes, see GcIntentDoc.write), and this device's check-in records
 * the cancel. False (the common case: one read of a missing document) otherwise.
 */
export async function contentNeededAgain(docs: DocumentStore, hash: string): Promise<boolean> {
  noteStored(docs, hash);
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
  const source = docs.readBlob(hash, start, end);
  async function* guarded(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) yield chunk as Buffer;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((err instanceof SoledadError && code === 'NOT_FOUND') || code === 'ENOENT') {
        throw new MailStoreError('NONEXISTENT', 'The content of this message is not stored on this device (not synced yet, or deleted after it was expunged everywhere)');
      }
      throw err;
    }
  }
  return Readable.from(guarded(), { objectMode: false });
}
