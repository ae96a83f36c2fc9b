// ENVELOPE, BODY and BODYSTRUCTURE as ready-to-send bytes, and the decoded
// header fields SEARCH uses, by content hash. Listing a folder (UID FETCH 1:*
// (FLAGS ENVELOPE ...)) or searching it by sender/subject/date needs only
// these, not the whole structure document, so a small cache of them spares one
// decrypting store read per message — the role Dovecot's index cache plays. Content is
// immutable (content-addressed), so entries never go stale; the cache is
// bounded in bytes and drops the least recently used entries. Decrypted
// metadata stays in memory only (DESIGN.md).
import type { MailStore } from '../../mail/mailstore.js';
import type { MessageStructure, SearchFields } from '../../mail/structure/types.js';

export interface Rendered {
  envelope: Buffer;
  body: Buffer;
  bodystructure: Buffer;
  search: SearchFields;
}

export const DEFAULT_RENDERED_CACHE_BYTES = 32 * 1024 * 1024;

export class RenderedCache {
  private readonly entries = new Map<string, Rendered>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_RENDERED_CACHE_BYTES) {}

  get size(): number {
    return this.entries.size;
  }

  get(hash: string): Rendered | undefined {
    const hit = this.entries.get(hash);
    if (hit) {
      this.entries.delete(hash);
      this.entries.set(hash, hit);
    }
    return hit;
  }

  /** Keeps what FETCH and SEARCH need of a structure; its pre-rendered strings are byte strings (one char per byte). */
  put(hash: string, structure: Pick<MessageStructure, 'imap' | 'search'>): Rendered {
    const existing = this.get(hash);
    if (existing) return existing;
    const { imap, search } = structure;
    const rendered: Rendered = {
      envelope: Buffer.from(imap.envelope, 'latin1'),
      body: Buffer.from(imap.body, 'latin1'),
      bodystructure: Buffer.from(imap.bodystructure, 'latin1'),
      search,
    };
    this.entries.set(hash, rendered);
    this.bytes += cost(hash, rendered);
    while (this.bytes > this.maxBytes && this.entries.size > 1) {
      const [oldHash, old] = this.entries.entries().next().value!;
      this.entries.delete(oldHash);
      this.bytes -= cost(oldHash, old);
    }
    return rendered;
  }
}

function cost(hash: string, r: Rendered): number {
  const s = r.search;
  const text = s.from.length + s.to.length + s.cc.length + s.bcc.length + s.subject.length + (s.messageId?.length ?? 0) + s.headerNames.join('').length;
  return hash.length + r.envelope.length + r.body.length + r.bodystructure.length + 2 * text + 300; // + object overhead
}

const caches = new WeakMap<MailStore, RenderedCache>();

/** The cache shared by every session of one store. */
export function renderedCache(store: MailStore): RenderedCache {
  let cache = caches.get(store);
  if (!cache) {
    cache = new RenderedCache();
    caches.set(store, cache);
  }
  return cache;
}
