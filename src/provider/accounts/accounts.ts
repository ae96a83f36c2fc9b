// Account records in the provider's `sealmail_accounts` database, and the
// per-user database each account owns. The database name is
// `user-<hex HMAC-SHA256(key, address)>`: a CouchDB admin or a leaked
// `_all_dbs` listing does not reveal whose mailbox a database is. The HMAC
// key is generated once and kept in `sealmail_provider/config`, so several
// gateway/MX processes over one CouchDB agree on the names.
import crypto from 'node:crypto';
import { CouchClient, CouchError, type CouchDoc } from '../store/couch-client.js';
import { checkPassword, makeVerifier, type PasswordVerifier, type ScryptParams } from './password.js';
import { parseAddress } from './address.js';

export const ACCOUNTS_DB = 'sealmail_accounts';
export const PROVIDER_DB = 'sealmail_provider';

export interface AccountDoc extends CouchDoc {
  address: string;
  db: string;
  verifier: PasswordVerifier;
  createdAt: string;
}

interface ConfigDoc extends CouchDoc {
  dbNameKey: string;
}

export class AccountError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AccountError';
  }
}

async function loadDbNameKey(couch: CouchClient): Promise<Buffer> {
  await couch.ensureDb(PROVIDER_DB);
  for (;;) {
    const existing = await couch.getDoc<ConfigDoc>(PROVIDER_DB, 'config');
    if (existing) return Buffer.from(existing.dbNameKey, 'base64');
    try {
      await couch.putDoc(PROVIDER_DB, { _id: 'config', dbNameKey: crypto.randomBytes(32).toString('base64') });
    } catch (err) {
      // Another process created it first: read theirs.
      if (!(err instanceof CouchError && err.status === 409)) throw err;
    }
  }
}

// Accounts are never renamed or deleted, so a found record can be reused for
// a while (MX and gateway look one up per message / request). Unknown
// addresses are not cached: a registration must be visible at once. Password
// checks always read the record (next to scrypt a read costs little), so a
// password change made through another process applies at once.
const CACHE_MS = 30_000;

export class Accounts {
  private readonly cache = new Map<string, { account: AccountDoc; at: number }>();

  private constructor(
    private readonly couch: CouchClient,
    private readonly dbNameKey: Buffer,
    private readonly domains: Set<string>,
    private readonly scrypt: ScryptParams,
  ) {}

  static async open(couch: CouchClient, domains: string[], scrypt: ScryptParams): Promise<Accounts> {
    await couch.ensureDb(ACCOUNTS_DB);
    const key = await loadDbNameKey(couch);
    return new Accounts(couch, key, new Set(domains.map((d) => d.toLowerCase())), scrypt);
  }

  isLocalDomain(domain: string): boolean {
    return this.domains.has(domain.toLowerCase());
  }

  dbNameFor(address: string): string {
    return 'user-' + crypto.createHmac('sha256', this.dbNameKey).update(address.toLowerCase()).digest('hex');
  }

  async find(address: string, fresh = false): Promise<AccountDoc | null> {
    const parsed = parseAddress(address);
    if (!parsed) return null;
    const hit = this.cache.get(parsed.address);
    if (!fresh && hit && Date.now() - hit.at < CACHE_MS) return hit.account;
    const account = await this.couch.getDoc<AccountDoc>(ACCOUNTS_DB, parsed.address);
    if (account) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(parsed.address, { account, at: Date.now() });
    }
    return account;
  }

  /** Creates the account and its (empty) database. */
  async register(address: string, password: string): Promise<AccountDoc> {
    const parsed = parseAddress(address);
    if (!parsed) throw new AccountError(400, 'bad_address', 'not a valid mail address');
    if (!this.isLocalDomain(parsed.domain)) throw new AccountError(400, 'foreign_domain', 'this provider does not serve that domain');
    if (await this.find(parsed.address)) throw new AccountError(409, 'exists', 'the address is already registered');
    const db = this.dbNameFor(parsed.address);
    // Database first: an account record always has its database.
    await this.couch.ensureDb(db);
    const doc: AccountDoc = {
      _id: parsed.address,
      address: parsed.address,
      db,
      verifier: await makeVerifier(password, this.scrypt),
      createdAt: new Date().toISOString(),
    };
    try {
      await this.couch.putDoc(ACCOUNTS_DB, { ...doc });
    } catch (err) {
      if (err instanceof CouchError && err.status === 409) throw new AccountError(409, 'exists', 'the address is already registered');
      throw err;
    }
    return doc;
  }

  /**
   * Replaces the account's login verifier (the caller has checked the old
   * password). A compare-and-swap on the record's revision: a concurrent
   * change makes this one fail rather than silently win.
   */
  async changePassword(address: string, newPassword: string): Promise<void> {
    const parsed = parseAddress(address);
    const current = parsed ? await this.couch.getDoc<AccountDoc>(ACCOUNTS_DB, parsed.address) : null;
    if (!parsed || !current) throw new AccountError(404, 'not_found', 'no such account');
    const updated: AccountDoc = { ...current, verifier: await makeVerifier(newPassword, this.scrypt) };
    try {
      updated._rev = await this.couch.putDoc(ACCOUNTS_DB, { ...updated });
    } catch (err) {
      if (err instanceof CouchError && err.status === 409) throw new AccountError(409, 'conflict', 'the account changed meanwhile; try again');
      throw err;
    }
    this.cache.set(parsed.address, { account: updated, at: Date.now() });
  }

  /** The account when the password matches, else null (unknown address included). */
  async verifyPassword(address: string, password: string): Promise<AccountDoc | null> {
    const account = await this.find(address, true);
    if (!account) {
      // Same cost as a real check, so timing does not tell which addresses exist.
      await makeVerifier(password, this.scrypt);
      return null;
    }
    return (await checkPassword(password, account.verifier)) ? account : null;
  }
}
