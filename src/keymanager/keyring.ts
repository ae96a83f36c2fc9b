// The keyring: one document per address holding every key seen for it, and
// the rules deciding which one is used (validation levels, pinning, expiry).
import type { DocumentStore } from '../soledad/types.js';
import { inspect, mergeKeys, publicArmor, readAnyKey } from './keys.js';
import {
  KEYRING_DOC,
  KeyManagerError,
  levelRank,
  type KeyRecord,
  type KeyringDoc,
  type KeySource,
  type ValidationLevel,
} from './types.js';

export function normalizeAddress(address: string): string {
  return address.trim().replace(/^<|>$/g, '').toLowerCase();
}

export type AddOutcome = 'added' | 'updated' | 'unchanged';

/** Keyring docs kept in memory (most recently used); an incoming message reads its sender's several times. */
const CACHE_MAX = 1000;
/** A cached doc is read again after this long even if no change was seen (bounds any staleness the feed could miss). */
const CACHE_TTL_MS = 60_000;

export class Keyring {
  /** address -> doc as stored (null: none), and when it was read. Callers get copies: they change what they load. */
  private readonly cache = new Map<string, { doc: KeyringDoc | null; at: number }>();
  /** Bumped on every keyring change the feed reports: a read that overlapped one is not cached. */
  private generation = 0;
  /** The changes feed invalidating the cache is running (started by the first load). */
  private watching = false;
  private watchStarted = false;

  constructor(
    private readonly store: DocumentStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(address: string): Promise<KeyringDoc> {
    const addr = normalizeAddress(address);
    this.watch();
    const hit = this.cache.get(addr);
    if (hit && Date.now() - hit.at < CACHE_TTL_MS) {
      this.cache.delete(addr);
      this.cache.set(addr, hit);
      return hit.doc ? structuredClone(hit.doc) : { address: addr, keys: [] };
    }
    const gen = this.generation;
    const doc = await this.store.get<KeyringDoc>(KEYRING_DOC, addr);
    if (this.watching && gen === this.generation) this.remember(addr, doc);
    return doc ?? { address: addr, keys: [] };
  }

  async save(doc: KeyringDoc): Promise<void> {
    const gen = this.generation;
    this.cache.delete(doc.address);
    await this.store.put(KEYRING_DOC, doc.address, doc);
    // What we wrote is what is stored, unless a change (from sync) came in meanwhile.
    if (this.watching && gen === this.generation) this.remember(doc.address, doc);
  }

  private remember(addr: string, doc: KeyringDoc | null): void {
    this.cache.delete(addr);
    this.cache.set(addr, { doc: doc ? structuredClone(doc) : null, at: Date.now() });
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
  }

  /**
   * Follows the keyring documents' changes (own writes, other devices' by
   * sync, merges of conflicts): each drops the cached doc. Until the feed
   * runs, and after it ends (the store closed) or fails, nothing is cached.
   */
  private watch(): void {
    if (this.watchStarted) return;
    this.watchStarted = true;
    const feed = this.store.changes<KeyringDoc>({ since: 'now', live: true, types: [KEYRING_DOC] })[Symbol.asyncIterator]();
    const next = feed.next();
    // The feed takes its start point a moment after it is first pulled (Soledad
    // asks the database for its current seq); nothing is cached before a
    // second has passed. A read in that moment that a sync then replaced would
    // be missed: CACHE_TTL_MS bounds that (and any other staleness) to a minute.
    let ended = false;
    setTimeout(() => (this.watching = !ended), 1000).unref();
    const stop = (): void => {
      ended = true;
      this.watching = false;
      this.cache.clear();
    };
    const loop = async (first: Promise<IteratorResult<{ type: string; id: string }>>): Promise<void> => {
      for (let r = await first; !r.done; r = await feed.next()) {
        this.generation++;
        this.cache.delete(r.value.id);
      }
    };
    loop(next).then(stop, stop);
  }

  async *all(): AsyncIterable<KeyringDoc> {
    for await (const d of this.store.query<KeyringDoc>(KEYRING_DOC)) yield d.content;
  }

  /**
   * Records a public key for an address. The key must carry a user ID with
   * that address (a directory cannot hand us someone else's key). Storing a
   * key never lowers the level of a key already held; which key is *used* is
   * decided by {@link preferredRecord}.
   */
  async add(
    address: string,
    data: string | Uint8Array,
    source: KeySource,
    level: ValidationLevel,
  ): Promise<{ outcome: AddOutcome; record: KeyRecord }> {
    const addr = normalizeAddress(address);
    let key;
    try {
      key = await readAnyKey(data);
    } catch (err) {
      throw new KeyManagerError('bad-key', `not an OpenPGP key: ${(err as Error).message}`);
    }
    const info = await inspect(key, this.now());
    if (!info.addresses.includes(addr)) {
      throw new KeyManagerError('address-mismatch', `key ${info.fingerprint} has no user ID for ${addr}`);
    }
    // A copy whose self-signature does not verify (damaged, or forged by someone without the
    // secret key) would poison the stored key: merged with a good copy later, it keeps it unusable.
    // Expired and revoked keys are still taken (a revocation must be able to arrive).
    const unverifiable = await key.verifyPrimaryKey(this.now()).then(() => null, (err: Error) => err.message);
    const expired = info.expiresAt !== null && Date.parse(info.expiresAt) <= this.now().getTime();
    if (unverifiable !== null && !info.revoked && !expired) {
      throw new KeyManagerError('bad-key', `key ${info.fingerprint} has no valid self-signature (${unverifiable})`);
    }
    const doc = await this.load(addr);
    const now = this.now().toISOString();
    const existing = doc.keys.find((k) => k.fingerprint === info.fingerprint);
    if (existing) {
      const merged = await mergeKeys(await readAnyKey(existing.armored), key);
      const mergedInfo = await inspect(merged, this.now());
      const armored = publicArmor(merged);
      const stronger = levelRank(level) > levelRank(existing.level) && existing.level !== 'verified';
      const changed = armored !== existing.armored || stronger;
      // The same key again (every Autocrypt header repeats it): lastSeen only orders keys of one
      // address (preferredRecord), so hour resolution is plenty, as for lastUsed.
      const seenLately = this.now().getTime() - Date.parse(existing.lastSeen) < 3600_000;
      if (!changed && seenLately) return { outcome: 'unchanged', record: existing };
      existing.armored = armored;
      existing.expiresAt = mergedInfo.expiresAt;
      existing.revoked = mergedInfo.revoked;
      existing.lastSeen = now;
      if (stronger) {
        existing.level = level;
        existing.source = source;
      }
      await this.save(doc);
      return { outcome: changed ? 'updated' : 'unchanged', record: existing };
    }
    const record: KeyRecord = {
      fingerprint: info.fingerprint,
      armored: publicArmor(key),
      source,
      level,
      firstSeen: now,
      lastSeen: now,
      expiresAt: info.expiresAt,
      revoked: info.revoked,
    };
    doc.keys.push(record);
    await this.save(doc);
    return { outcome: 'added', record };
  }

  /** Pins a fingerprint as verified; any other pinned key of the address is unpinned (the explicit replacement). */
  async pin(address: string, fingerprint: string): Promise<void> {
    const doc = await this.load(address);
    const fpr = fingerprint.replace(/\s+/g, '').toUpperCase();
    const target = doc.keys.find((k) => k.fingerprint === fpr);
    if (!target) throw new KeyManagerError('not-found', `no key ${fpr} for ${doc.address}`);
    for (const k of doc.keys) {
      if (k !== target && k.level === 'verified') {
        k.level = k.levelBeforePin ?? 'keyserver';
        delete k.levelBeforePin;
      }
    }
    if (target.level !== 'verified') {
      target.levelBeforePin = target.level;
      target.level = 'verified';
    }
    await this.save(doc);
  }

  async unpin(address: string): Promise<void> {
    const doc = await this.load(address);
    for (const k of doc.keys) {
      if (k.level === 'verified' && k.source !== 'own') {
        k.level = k.levelBeforePin ?? 'keyserver';
        delete k.levelBeforePin;
      }
    }
    await this.save(doc);
  }

  async markUsed(address: string, fingerprint: string): Promise<void> {
    const doc = await this.load(address);
    const rec = doc.keys.find((k) => k.fingerprint === fingerprint);
    // Hour resolution is plenty, and spares a write per outgoing message.
    if (!rec || (rec.lastUsed && this.now().getTime() - Date.parse(rec.lastUsed) < 3600_000)) return;
    rec.lastUsed = this.now().toISOString();
    await this.save(doc);
  }
}

/** True when the record may be used to encrypt at `now`. */
export function isUsable(rec: KeyRecord, now: Date): boolean {
  if (rec.revoked) return false;
  if (rec.expiresAt && Date.parse(rec.expiresAt) <= now.getTime()) return false;
  return true;
}

/**
 * The key to encrypt to, or why there is none. A pinned key is used or
 * nothing is (we do not fall back to a weaker key behind the user's back);
 * otherwise the strongest usable level wins, and among equals the peer's
 * current Autocrypt key, then the most recently seen (a rotated directory key).
 */
export async function preferredRecord(doc: KeyringDoc, now: Date): Promise<{ record: KeyRecord } | { reason: string }> {
  const pinned = doc.keys.find((k) => k.level === 'verified');
  if (pinned) {
    if (!isUsable(pinned, now) || !(await canEncryptNow(pinned, now))) {
      return { reason: `the verified key ${pinned.fingerprint} is ${pinned.revoked ? 'revoked' : 'expired or unusable'}` };
    }
    return { record: pinned };
  }
  const candidates: KeyRecord[] = [];
  for (const k of doc.keys) if (isUsable(k, now) && (await canEncryptNow(k, now))) candidates.push(k);
  if (candidates.length === 0) {
    return { reason: doc.keys.length ? 'every known key is expired or revoked' : 'no public key known' };
  }
  // Among Autocrypt (or gossip) keys, the one from the newest header is the peer's current key (Autocrypt §2.3).
  const current = new Set([doc.autocrypt?.fingerprint, doc.autocrypt?.gossipFingerprint].filter(Boolean));
  const isCurrent = (k: KeyRecord): number => (current.has(k.fingerprint) ? 1 : 0);
  candidates.sort(
    (a, b) => levelRank(b.level) - levelRank(a.level) || isCurrent(b) - isCurrent(a) || Date.parse(b.lastSeen) - Date.parse(a.lastSeen),
  );
  return { record: candidates[0] };
}

async function canEncryptNow(rec: KeyRecord, now: Date): Promise<boolean> {
  const info = await inspect(await readAnyKey(rec.armored), now);
  return info.canEncrypt && !info.revoked;
}
