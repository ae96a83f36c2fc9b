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
import type { MessageStructure, SearchFields } from '../structure/types.js';
import { logger } from '../../util/log.js';

const log = logger('summary-cache');

export interface Summary {
  envelope: Buffer;
  body: Buffer;
  bodystructure: Buffer;
  search: SearchFields;
}

export const DEFAULT_SUMMARY_CACHE_BYTES = 32 * 1024 * 1024;

/** The local blob holding the persisted entries (newline-delimited JSON). */
const BLOB_ID = 'summary-cache';
const FORMAT = 1;

type Line = [hash: string, envelope: string, body: string, bodystructure: string, search: SearchFields];

export class SummaryCache {
  private readonly entries = new Map<string, Summary>();
  private bytes = 0;
  /** Entries added since the last save (nothing to write when 0). */
  private added = 0;
  private loader: (() => Promise<void>) | null = null;
  private loading: Promise<void> | null = null;

  constructor(private readonly maxBytes = DEFAULT_SUMMARY_CACHE_BYTES) {}

  get size(): number {
    return this.entries.size;
  }

  get(hash: string): Summary | undefined {
    const hit = this.entries.get(hash);
    if (hit) {
      // Map order is insertion order: re-insert to mark as recently used.
      this.entries.delete(hash);
      this.entries.set(hash, hit);
    }
    return hit;
  }

  /** Keeps what FETCH and SEARCH need of a structure; its pre-rendered strings are byte strings (one char per byte). */
  put(hash: string, structure: Pick<MessageStructure, 'imap' | 'search'>): Summary {
    const existing = this.get(hash);
    if (existing) return existing;
    const { imap, search } = structure;
    return this.insert(hash, {
      envelope: Buffer.from(imap.envelope, 'latin1'),
      body: Buffer.from(imap.body, 'latin1'),
      bodystructure: Buffer.from(imap.bodystructure, 'latin1'),
      search,
    });
  }

  /** `fresh`: not read from the persisted blob (so a save has something new to write). */
  private insert(hash: string, summary: Summary, fresh = true): Summary {
    this.entries.set(hash, summary);
    this.bytes += cost(hash, summary);
    if (fresh) this.added++;
    while (this.bytes > this.maxBytes && this.entries.size > 1) {
      const [oldHash, old] = this.entries.entries().next().value!;
      this.entries.delete(oldHash);
      this.bytes -= cost(oldHash, old);
    }
    return summary;
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
      const [hash, envelope, body, bodystructure, search] = JSON.parse(text) as Line;
      const summary = { envelope: Buffer.from(envelope, 'latin1'), body: Buffer.from(body, 'latin1'), bodystructure: Buffer.from(bodystructure, 'latin1'), search };
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
        const line: Line = [hash, s.envelope.toString('latin1'), s.body.toString('latin1'), s.bodystructure.toString('latin1'), s.search];
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
  return hash.length + r.envelope.length + r.body.length + r.bodystructure.length + 2 * text + 300; // + object overhead
}
