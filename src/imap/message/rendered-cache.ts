// ENVELOPE, BODY and BODYSTRUCTURE as ready-to-send bytes, and the decoded
// header fields SEARCH uses, by content hash: the mail store's summary cache
// (src/mail/store/summary-cache.ts, kept across restarts) when the store has
// one, else one cache per store kept here.
import type { MailStore } from '../../mail/mailstore.js';
import { SummaryCache, type Summary } from '../../mail/store/summary-cache.js';

export { SummaryCache as RenderedCache, DEFAULT_SUMMARY_CACHE_BYTES as DEFAULT_RENDERED_CACHE_BYTES } from '../../mail/store/summary-cache.js';
export type Rendered = Summary;

const caches = new WeakMap<MailStore, SummaryCache>();

/** The cache shared by every session of one store. */
export function renderedCache(store: MailStore): SummaryCache {
  if (store.summaries) return store.summaries;
  let cache = caches.get(store);
  if (!cache) {
    cache = new SummaryCache();
    caches.set(store, cache);
  }
  return cache;
}
