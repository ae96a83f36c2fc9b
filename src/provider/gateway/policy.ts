// What a user may do in their own database through the gateway. An allowlist
// of what CouchDB replication (PouchDB, CouchDB) needs: reading the database
// info, documents and attachments, _local checkpoints, and the bulk and
// changes endpoints. Everything that would make the server run user-supplied
// code is refused: design documents and views (express-pouchdb evaluates map
// functions in-process), _temp_view, and _changes filters other than the
// built-in _doc_ids/_selector. Database creation/deletion, _security,
// _compact etc. are the provider's business.

const DB_ENDPOINTS = new Set(['_changes', '_all_docs', '_revs_diff', '_bulk_docs', '_bulk_get', '_missing_revs', '_ensure_full_commit']);
const SAFE_FILTERS = new Set(['_doc_ids', '_selector']);

export type PolicyDecision = { allow: true } | { allow: false; reason: string };

export interface PolicyOptions {
  /**
   * Whether `_changes?feed=continuous|eventsource` may pass. express-pouchdb
   * never ends a continuous feed when its client goes away (its heartbeat
   * timer and live changes listener leak), so the embedded server gets
   * longpoll only — which is what PouchDB replication uses anyway.
   */
  continuousFeeds: boolean;
}

/**
 * `rest` is the path after `/{db}` with its leading slash (raw, still
 * percent-encoded), e.g. '', '/', '/_changes', '/docid/attachment'.
 */
export function decide(method: string, rest: string, query: URLSearchParams, opts: PolicyOptions = { continuousFeeds: true }): PolicyDecision {
  if (rest === '' || rest === '/') {
    return method === 'GET' || method === 'HEAD' ? { allow: true } : { allow: false, reason: 'the database itself cannot be changed' };
  }
  const segments = rest.slice(1).split('/');
  // No empty or dot segments (RFC 3986 §5.2.4): a normalising proxy or server
  // behind us must not turn /{own}/../{other} into another database.
  for (const seg of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return { allow: false, reason: 'malformed path' };
    }
    if (decoded === '' || decoded === '.' || decoded === '..') return { allow: false, reason: 'malformed path' };
  }
  const first = decodeURIComponent(segments[0]!);
  if (first === '_local') return segments.length === 2 ? { allow: true } : { allow: false, reason: 'bad _local path' };
  if (first.startsWith('_')) {
    if (!DB_ENDPOINTS.has(first) || segments.length !== 1) return { allow: false, reason: `${first} is not available through the gateway` };
    if (first === '_changes') {
      const filter = query.get('filter');
      if (filter !== null && !SAFE_FILTERS.has(filter)) return { allow: false, reason: 'only _doc_ids and _selector filters are allowed' };
      const feed = query.get('feed');
      if (!opts.continuousFeeds && (feed === 'continuous' || feed === 'eventsource')) {
        return { allow: false, reason: 'this server offers feed=longpoll (or normal) only' };
      }
    }
    return { allow: true };
  }
  // A document or one of its attachments.
  return { allow: true };
}
