// Bearer tokens: 256 random bits handed to the client once; the provider
// stores only SHA-256(token) (a database leak yields no usable tokens) with
// the address and an expiry. Verified tokens are cached briefly in memory so
// replication traffic does not cost a database read per request.
// A view indexes the records by address, so every session of an account can
// be revoked at once (logout everywhere, password change).
import crypto from 'node:crypto';
import { CouchError, type CouchClient, type CouchDoc } from '../store/couch-client.js';

export const SESSIONS_DB = 'sealmail_sessions';
const CACHE_MS = 30_000;

interface SessionDoc extends CouchDoc {
  address: string;
  expiresAt: string;
}

const DESIGN_ID = '_design/sessions';
// CouchDB and PouchDB both run JavaScript map functions (the embedded server through PouchDB's mapreduce).
const DESIGN = {
  language: 'javascript',
  views: { by_address: { map: 'function (doc) { if (doc.address && doc.expiresAt) emit(doc.address, null); }' } },
};

function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export class Sessions {
  private readonly cache = new Map<string, { address: string; expiresAt: number; cachedAt: number }>();

  private constructor(
    private readonly couch: CouchClient,
    private readonly ttlMs: number,
  ) {}

  static async open(couch: CouchClient, ttlMs: number): Promise<Sessions> {
    await couch.ensureDb(SESSIONS_DB);
    await ensureDesign(couch);
    return new Sessions(couch, ttlMs);
  }

  async issue(address: string): Promise<{ token: string; expiresAt: string }> {
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.ttlMs).toISOString();
    await this.couch.putDoc(SESSIONS_DB, { _id: hashToken(token), address, expiresAt });
    return { token, expiresAt };
  }

  /** Ends a session (logout). Other processes sharing the CouchDB notice within their cache lifetime. */
  async revoke(token: string): Promise<void> {
    const id = hashToken(token);
    this.cache.delete(id);
    for (;;) {
      const doc = await this.couch.getDoc<SessionDoc>(SESSIONS_DB, id);
      if (!doc) return;
      const res = await this.couch.request('DELETE', `${SESSIONS_DB}/${id}?rev=${encodeURIComponent(doc._rev!)}`);
      await res.body?.cancel();
      if (res.status !== 409) return;
    }
  }

  /**
   * Ends every session of `address` except the one whose token is `keep`
   * (password change: the device that made it stays logged in). Returns how
   * many were ended. Other processes sharing the CouchDB notice within their
   * cache lifetime (30 s).
   */
  async revokeAll(address: string, keep?: string): Promise<number> {
    const keepId = keep ? hashToken(keep) : null;
    for (const [id, hit] of this.cache) if (hit.address === address && id !== keepId) this.cache.delete(id);
    let revoked = 0;
    for (;;) {
      const query = new URLSearchParams({ key: JSON.stringify(address), include_docs: 'true', limit: '500' });
      const res = await this.couch.request('GET', `${SESSIONS_DB}/${DESIGN_ID}/_view/by_address?${query}`);
      if (!res.ok) throw new Error(`listing sessions failed: ${res.status}`);
      const { rows } = (await res.json()) as { rows: Array<{ id: string; doc?: SessionDoc }> };
      const ending = rows.filter((r) => r.doc && r.id !== keepId).map((r) => ({ _id: r.id, _rev: r.doc!._rev, _deleted: true }));
      if (ending.length === 0) return revoked;
      const del = await this.couch.request('POST', `${SESSIONS_DB}/_bulk_docs`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ docs: ending }),
      });
      if (!del.ok) throw new Error(`revoking sessions failed: ${del.status}`);
      const results = (await del.json()) as Array<{ ok?: boolean }>;
      const ended = results.filter((r) => r.ok).length;
      // A record changed meanwhile (409) is read again on the next round; a round that ends none would loop.
      if (ended === 0) throw new Error('revoking sessions made no progress');
      revoked += ended;
    }
  }

  /** Deletes expired session records (run periodically). Returns how many were removed. */
  async sweepExpired(now = Date.now()): Promise<number> {
    let removed = 0;
    let startkey: string | undefined;
    for (;;) {
      const query = new URLSearchParams({ include_docs: 'true', limit: '500' });
      if (startkey !== undefined) {
        query.set('startkey', JSON.stringify(startkey));
        query.set('skip', '1');
      }
      const res = await this.couch.request('GET', `${SESSIONS_DB}/_all_docs?${query}`);
      if (!res.ok) throw new Error(`listing sessions failed: ${res.status}`);
      const { rows } = (await res.json()) as { rows: Array<{ id: string; doc?: SessionDoc }> };
      const expired = rows.filter((r) => r.doc && Date.parse(r.doc.expiresAt) <= now).map((r) => ({ _id: r.id, _rev: r.doc!._rev, _deleted: true }));
      if (expired.length > 0) {
        const del = await this.couch.request('POST', `${SESSIONS_DB}/_bulk_docs`, {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ docs: expired }),
        });
        await del.body?.cancel();
        removed += expired.length;
      }
      if (rows.length < 500) return removed;
      startkey = rows[rows.length - 1]!.id;
    }
  }

  /** The address the token belongs to, or null when unknown or expired. */
  async verify(token: string): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const id = hashToken(token);
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && now - hit.cachedAt < CACHE_MS) return hit.expiresAt > now ? hit.address : null;
    const doc = await this.couch.getDoc<SessionDoc>(SESSIONS_DB, id);
    if (!doc) return null;
    const expiresAt = Date.parse(doc.expiresAt);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { address: doc.address, expiresAt, cachedAt: now });
    return expiresAt > now ? doc.address : null;
  }
}

async function ensureDesign(couch: CouchClient): Promise<void> {
  for (;;) {
    const existing = await couch.getDoc<CouchDoc & typeof DESIGN>(SESSIONS_DB, DESIGN_ID);
    if (existing && JSON.stringify(existing.views) === JSON.stringify(DESIGN.views)) return;
    try {
      await couch.putDoc(SESSIONS_DB, { _id: DESIGN_ID, ...(existing?._rev ? { _rev: existing._rev } : {}), ...DESIGN });
      return;
    } catch (err) {
      // Another process wrote it first: compare again.
      if (!(err instanceof CouchError && err.status === 409)) throw err;
    }
  }
}
