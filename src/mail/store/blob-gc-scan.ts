// What blob garbage collection (blob-gc.ts) reads: content no live entry
// refers to, from the index, and blobs no entry refers to at all, from a
// listing of the stored blobs; the mail store's entries and device id.
import type { DocumentStore } from '../../soledad/types.js';
import { DocumentMailStore } from './mail-store.js';

/** Content blobs are named by the hex SHA-256 of their bytes (spool blobs are not). */
const CONTENT_HASH = /^[0-9a-f]{64}$/;

/** What the collector needs of an index entry. */
export interface IndexEntry {
  hash: string;
  size: number;
  expunged: string | null;
}

export interface EntryScan {
  /** Hashes with a live (not expunged) entry. */
  live: Set<string>;
  /** Hashes whose entries are all expunged, with their size (RFC822.SIZE is the blob's size). */
  dead: Map<string, number>;
}

/** One synchronous pass over the index's entries; a hash live again leaves `gone`. */
export function scanEntries(entries: Iterable<IndexEntry>, gone: Set<string>): EntryScan {
  const live = new Set<string>();
  const dead = new Map<string, number>();
  for (const e of entries) {
    if (e.expunged === null) live.add(e.hash);
    else dead.set(e.hash, e.size);
  }
  for (const h of live) {
    dead.delete(h);
    if (gone.size > 0) gone.delete(h);
  }
  return { live, dead };
}

/** What a listing of the stored blobs tells the collector. */
export interface Sweep {
  /** Blobs no entry refers to, each with when it was first seen so. */
  orphans: Map<string, number>;
  /** The hashes of `dead` (orphans due included) whose blob is stored here; the others are not. */
  listed: Set<string>;
}

/**
 * Lists the stored blobs. Blobs no entry refers to at all (a crash between
 * storing content and its entry; the content not chosen when two devices
 * stored one delivery with different bytes) join `dead` once seen so for a
 * grace period: an entry being written or synced has long arrived by then
 * (`seen`: the last sweep's orphans). A listed blob leaves `gone` (stored
 * again since it was found gone, or synced in later).
 */
export async function sweepOrphans(
  docs: DocumentStore,
  opts: EntryScan & { seen: Map<string, number>; now: number; graceMs: number; gone: Set<string> },
): Promise<Sweep> {
  const sweep: Sweep = { orphans: new Map(), listed: new Set() };
  if (!docs.blobIds) return sweep;
  let listed = 0;
  for await (const id of docs.blobIds()) {
    if (++listed % 500 === 0) await turn();
    if (!CONTENT_HASH.test(id)) continue;
    opts.gone.delete(id);
    if (opts.dead.has(id)) sweep.listed.add(id);
    if (opts.live.has(id) || opts.dead.has(id)) continue;
    const since = opts.seen.get(id) ?? opts.now;
    sweep.orphans.set(id, since);
    if (opts.now - since < opts.graceMs) continue;
    opts.dead.set(id, (await docs.blobSize(id)) ?? 0);
    sweep.listed.add(id);
  }
  return sweep;
}

/** Lets IMAP and sync work run between batches. */
export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** What the collector reads of a mail store opened by openMailStore: every entry of its index. */
export function indexEntriesOf(mail: unknown): () => Iterable<IndexEntry> {
  if (!(mail instanceof DocumentMailStore)) throw new Error('blob garbage collection needs the document mail store');
  return () => mail.index.entries.values();
}

/** The id this device's mail store goes by (its HLC node, kept in the local store by openMailStore). */
export async function mailDeviceId(local: DocumentStore): Promise<string> {
  const device = await local.get<{ node: string }>('device', 'mailstore');
  if (!device) throw new Error('the mail store has not been opened on this device yet');
  return device.node;
}
