// The provider's key directory: one public key per local account, stored in
// `sealmail_keys` under "<wkd hash>@<domain>" so both lookups (by address,
// and by WKD hash without the local part) are a single read. Parsed keys are
// cached briefly for the MX hot path; a PUT in this process invalidates at
// once, other processes see it within the cache lifetime.
import type * as openpgp from 'openpgp';
import { CouchClient, CouchError, type CouchDoc } from '../store/couch-client.js';
import { parseAddress } from '../accounts/address.js';
import { readPublicKey, validatePublicKey } from './pgp.js';
import { wkdHash } from './wkd.js';

export const KEYS_DB = 'sealmail_keys';
const CACHE_MS = 10_000;

export interface KeyDoc extends CouchDoc {
  address: string;
  armored: string;
  fingerprint: string;
  updatedAt: string;
}

export function keyDocId(domain: string, hash: string): string {
  return `${hash}@${domain}`;
}

export class KeyDirectory {
  private readonly cache = new Map<string, { key: openpgp.PublicKey | null; at: number }>();

  private constructor(private readonly couch: CouchClient) {}

  static async open(couch: CouchClient): Promise<KeyDirectory> {
    await couch.ensureDb(KEYS_DB);
    return new KeyDirectory(couch);
  }

  async getByHash(domain: string, hash: string): Promise<KeyDoc | null> {
    return this.couch.getDoc<KeyDoc>(KEYS_DB, keyDocId(domain.toLowerCase(), hash));
  }

  async get(address: string): Promise<KeyDoc | null> {
    const parsed = parseAddress(address);
    if (!parsed) return null;
    return this.getByHash(parsed.domain, wkdHash(parsed.local));
  }

  /** Validates and stores (or replaces) the key of `address`. Throws KeyValidationError. */
  async put(address: string, armored: string): Promise<KeyDoc> {
    const parsed = parseAddress(address);
    if (!parsed) throw new Error('invalid address');
    const valid = await validatePublicKey(armored, parsed.address);
    const id = keyDocId(parsed.domain, wkdHash(parsed.local));
    for (;;) {
      const existing = await this.couch.getDoc<KeyDoc>(KEYS_DB, id);
      const doc: KeyDoc = {
        _id: id,
        ...(existing ? { _rev: existing._rev } : {}),
        address: parsed.address,
        armored: valid.armored,
        fingerprint: valid.fingerprint,
        updatedAt: new Date().toISOString(),
      };
      try {
        await this.couch.putDoc(KEYS_DB, { ...doc });
        this.cache.set(parsed.address, { key: valid.key, at: Date.now() });
        return doc;
      } catch (err) {
        if (!(err instanceof CouchError && err.status === 409)) throw err;
      }
    }
  }

  /** The parsed public key to encrypt mail for `address` to, or null when it has none. */
  async encryptionKey(address: string): Promise<openpgp.PublicKey | null> {
    const hit = this.cache.get(address);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.key;
    const doc = await this.get(address);
    const key = doc ? await readPublicKey(doc.armored) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(address, { key, at: Date.now() });
    return key;
  }
}
