// What listing a folder or searching it by sender/subject/date needs of a
// message, by content hash: ENVELOPE, BODY and BODYSTRUCTURE as ready-to-send
// bytes and the decoded search fields — the role Dovecot's index cache plays.
// Without it each message costs one decrypting store read of its structure
// document (two LevelDB reads under PouchDB), which made the first listing of
// a 10k-message folder ~4x Dovecot's.
//
// Content is immutable (content-addressed), so entries never go stale; the
// cache is bounded in bytes and drops the least recently used entries. It is
// filled when a message is stored here and when a structure is read, and is
// kept across restarts as one blob of the device-local (encrypted, never
// synced) store, written on close and read back when first needed (not during
// startup: up to 32 MB to decrypt and parse) — so a restart does not mean
// reading 10k structure documents again.
import { StringDecoder } from 'node:string_decoder';
import type { DocumentStore } from '../../soledad/types.js';
import { filterHeader } from '../structure/sections.js';
import { LISTING_FIELDS, listingHeader } from '../structure/listing.js';
import type { MessageStructure, PartNode, SearchFields } from '../structure/types.js';
import { logger } from '../../util/log.js';

const log = logger('summary-cache');

export interface Summary {
  envelope: Buffer;
  body: Buffer;
  bodystructure: Buffer;
  search: SearchFields;
  /** Bytes of the message's header block (blank line included), when known: a header read needs no structure read. */
  headerSize?: number;
  /** The header's LISTING_FIELDS lines (see listingHeader), when known. */
  listing?: Buffer;
  /** SummaryCache's bookkeeping: the insert count when the entry last moved to the recent end. */
  touched?: number;
}

export { LISTING_FIELDS, listingHeader };

/**
 * HEADER.FIELDS (`fields`, lower-cased) of a message from its listing lines:
 * the same bytes filterHeader gives over the whole header, since filtering is
 * line by line and every wanted name is among those kept. null when a name is not.
 */
export function fieldsFromListing(listing: Buffer, fields: readonly string[] | ListingRequest): Buffer | null {
  const request = 'key' in fields ? fields : listingRequest(fields);
  if (!request) return null;
  // A client asks for the same fields every time it lists: the last answer is kept per listing.
  const memo = lastFields.get(listing);
  if (memo?.key === request.key) return memo.bytes;
  const bytes = filterHeader(listing, request.fields, false);
  lastFields.set(listing, { key: request.key, bytes: bytes.equals(listing) ? listing : bytes });
  return bytes;
}

/** HEADER.FIELDS names (lower-cased) checked once for a whole FETCH: null when one is not kept. */
export interface ListingRequest {
  fields: string[];
  key: string;
}

export function listingRequest(fields: readonly string[]): ListingRequest | null {
  return fields.every((f) => LISTING_FIELDS.has(f)) ? { fields: [...fields], key: fields.join(' ') } : null;
}

/** Per listing (so dropped with its summary), the last HEADER.FIELDS answer made from it. */
const lastFields = new WeakMap<Buffer, { key: string; bytes: Buffer }>();

export const DEFAULT_SUMMARY_CACHE_BYTES = 32 * 1024 * 1024;

/** The local blob holding the persisted entries (newline-delimited JSON). */
const BLOB_ID = 'summary-cache';
const FORMAT = 1;

/** headerSize and listing are absent in lines written before they existed (read back as unknown). */
type Line = [hash: string, envelope: string, body: string, bodystructure: string, search: SearchFields, headerSize?: number | null, listing?: string | null];

export class SummaryCache {
  private readonly entries = new Map<string, Summary>();
  private bytes = 0;
  /** Counts inserts (see get). */
  private tick = 0;
  /** Entries added since the last save (nothing to write when 0). */
  private added = 0;
  private loader: (() => Promise<void>) | null = null;
  private loading: Promise<void> | null = null;

  constructor(private readonly maxBytes = DEFAULT_SUMMARY_CACHE_BYTES) {}

  get size(): number {
    return this.entries.size;
  }

  /** What the entries cost, of the bound (see cost()). */
  get usedBytes(): number {
    return this.bytes;
  }

  get capacity(): number {
    return this.maxBytes;
  }

  /** The entry, not counted as a use (a background reader must not keep entries alive). */
  peek(hash: string): Summary | undefined {
    return this.entries.get(hash);
  }

  get(hash: string): Summary | undefined {
    const hit = this.entries.get(hash);
    // Map order is insertion order: re-inserting marks an entry as recently
    // used. Only an entry last placed before the latest half of the inserts
    // moves (a listing touches thousands: two Map operations each cost more
    // than the rest of its response), so a repeated listing moves nothing.
    if (hit && (hit.touched ?? 0) < this.tick - this.entries.size / 2) {
      this.entries.delete(hash);
      this.entries.set(hash, hit);
      hit.touched = this.tick;
    }
    return hit;
  }

  /**
   * Keeps what FETCH and SEARCH need of a structure; its pre-rendered strings
   * are byte strings (one char per byte). The listing lines come with
   * structures derived since they carry them, else from `header` (the
   * message's header bytes) when the caller has those.
   */
  put(hash: string, structure: Pick<MessageStructure, 'imap' | 'search' | 'listing'> & { root?: Pick<PartNode, 'headerStart' | 'headerEnd'> }, header?: Buffer): Summary {
    const { imap, search, root } = structure;
    // The root header starts at byte 0 (splitter.ts); anything else is not a size.
    const headerSize = root && root.headerStart === 0 ? root.headerEnd : undefined;
    const listing = (): Buffer | undefined => {
      if (typeof structure.listing === 'string') return Buffer.from(structure.listing, 'latin1');
      return header && headerSize !== undefined ? listingHeader(header.subarray(0, headerSize)) : undefined;
    };
    const existing = this.get(hash);
    if (existing) {
      if (existing.headerSize === undefined && headerSize !== undefined) existing.headerSize = headerSize;
      if (!existing.listing) this.addListing(existing, listing());
      return existing;
    }
    return this.insert(hash, {
      envelope: Buffer.from(imap.envelope, 'latin1'),
      body: Buffer.from(imap.body, 'latin1'),
      bodystructure: Buffer.from(imap.bodystructure, 'latin1'),
      search,
      headerSize,
      listing: listing(),
    });
  }

  /** Adds the listing lines of a cached message from its header bytes; returns them (also when the entry is gone). */
  setListing(hash: string, header: Buffer): Buffer {
    const listing = listingHeader(header);
    const entry = this.entries.get(hash);
    if (entry && !entry.listing) this.addListing(entry, listing);
    return listing;
  }

  private addListing(entry: Summary, listing: Buffer | undefined): void {
    if (!listing) return;
    entry.listing = listing;
    this.bytes += listing.length;
    this.added++;
    this.evict();
  }

  /** `fresh`: not read from the persisted blob (so a save has something new to write). */
  private insert(hash: string, summary: Summary, fresh = true): Summary {
    this.entries.set(hash, summary);
    summary.touched = ++this.tick;
    this.bytes += cost(hash, summary);
    if (fresh) this.added++;
    this.evict();
    return summary;
  }

  private evict(): void {
    while (this.bytes > this.maxBytes && this.entries.size > 1) {
      const [oldHash, old] = this.entries.entries().next().value!;
      this.entries.delete(oldHash);
      this.bytes -= cost(oldHash, old);
    }
  }

  /**
   * Where the persisted entries are (`version`: the analyzer's; entries of
   * another version are not used, since its structures would be derived
   * again). They are read on the first use of `loaded`; entries cached before
   * that stay and count as more recent.
   */
  persistIn(local: DocumentStore, version: number): void {
    this.loader = () => this.load(local, version).catch((err: Error) => log.warn({ err: err.message }, 'persisted summaries not read; they are rebuilt as messages are read'));
  }

  /** Resolves once the persisted entries are in; the first use starts reading them (at once when nothing is persisted). */
  get loaded(): Promise<void> {
    this.loading ??= this.loader ? this.loader() : Promise.resolve();
    return this.loading;
  }

  private async load(local: DocumentStore, version: number): Promise<void> {
    if (!(await local.hasBlob(BLOB_ID))) return;
    const started = Date.now();
    const newer = new Map(this.entries);
    this.entries.clear();
    this.bytes = 0;
    let header = true;
    let rest = '';
    let count = 0;
    let usable = true;
    const take = (text: string): void => {
      if (header) {
        header = false;
        const h = JSON.parse(text) as { format?: number; version?: number };
        usable = h.format === FORMAT && h.version === version;
        return;
      }
      const [hash, envelope, body, bodystructure, search, headerSize, listing] = JSON.parse(text) as Line;
      const summary: Summary = { envelope: Buffer.from(envelope, 'latin1'), body: Buffer.from(body, 'latin1'), bodystructure: Buffer.from(bodystructure, 'latin1'), search };
      if (typeof headerSize === 'number') summary.headerSize = headerSize;
      if (typeof listing === 'string') summary.listing = Buffer.from(listing, 'latin1');
      this.insert(hash, summary, false);
      count++;
    };
    // Chunks end anywhere, also inside a multi-byte character: decode across them.
    const decoder = new StringDecoder('utf8');
    try {
      for await (const chunk of local.readBlob(BLOB_ID)) {
        const lines = (rest + decoder.write(chunk as Buffer)).split('\n');
        rest = lines.pop()!;
        for (const line of lines) if (line && usable) take(line);
        if (!usable) break;
      }
      rest += decoder.end();
      if (rest && usable) take(rest);
    } finally {
      // What was cached while loading is the most recent: it goes last (and wins).
      for (const [hash, s] of newer) {
        const old = this.entries.get(hash);
        if (old) {
          this.entries.delete(hash);
          this.bytes -= cost(hash, old);
        }
        this.insert(hash, s, false); // counted in `added` when first cached
      }
    }
    log.info({ entries: count, ms: Date.now() - started }, 'persisted summaries read');
  }

  /** Writes the entries to the local store (least recently used first), unless nothing was added since the last save. */
  async save(local: DocumentStore, version: number): Promise<void> {
    if (this.added === 0) return;
    await this.loaded; // the persisted entries are kept with the new ones
    this.added = 0;
    const entries = [...this.entries];
    async function* lines(): AsyncGenerator<Buffer> {
      yield Buffer.from(JSON.stringify({ format: FORMAT, version }) + '\n');
      let batch: string[] = [];
      let size = 0;
      for (const [hash, s] of entries) {
        const line: Line = [hash, s.envelope.toString('latin1'), s.body.toString('latin1'), s.bodystructure.toString('latin1'), s.search, s.headerSize ?? null, s.listing?.toString('latin1') ?? null];
        const text = JSON.stringify(line);
        batch.push(text);
        size += text.length;
        if (size >= 64 * 1024) {
          yield Buffer.from(batch.join('\n') + '\n');
          batch = [];
          size = 0;
        }
      }
      if (batch.length) yield Buffer.from(batch.join('\n') + '\n');
    }
    const started = Date.now();
    await local.putBlob(BLOB_ID, lines());
    log.info({ entries: entries.length, ms: Date.now() - started }, 'summaries saved');
  }
}

function cost(hash: string, r: Summary): number {
  const s = r.search;
  const text = s.from.length + s.to.length + s.cc.length + s.bcc.length + s.subject.length + (s.messageId?.length ?? 0) + s.headerNames.join('').length;
  return hash.length + r.envelope.length + r.body.length + r.bodystructure.length + (r.listing?.length ?? 0) + 2 * text + 300; // + object overhead
}
