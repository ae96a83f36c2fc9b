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

export class Keyring {
  constructor(
    private readonly store: DocumentStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(address: string): Promise<KeyringDoc> {
    const addr = normalizeAddress(address);
    return (await this.store.get<KeyringDoc>(KEYRING_DOC, addr)) ?? { address: addr, keys: [] };
  }

  async save(doc: KeyringDoc): Promise<void> {
    await this.store.put(KEYRING_DOC, doc.address, doc);
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
