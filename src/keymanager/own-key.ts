// Our own keypair, for the KeyManager: generated at account creation,
// renewed (its expiry extended) when it comes close, imported from elsewhere
// (the previous one retired, kept for old mail), and published to the
// provider directory.
import type { Logger } from 'pino';
import type { KeyManagerOptions } from './keymanager.js';
import { generateKeyPair, readPrivateForImport, renewKey } from './keys.js';
import type { Keyring } from './keyring.js';
import type { KeySources } from './lookup.js';
import { KeyManagerError, OWN_KEY_DOC, type OwnKeyDoc } from './types.js';

const DAY = 24 * 3600 * 1000;

export class OwnKeys {
  private ownCache: { doc: OwnKeyDoc; until: number } | null = null;
  private renewing: Promise<unknown> | null = null;

  constructor(
    private readonly opts: KeyManagerOptions,
    private readonly address: string,
    private readonly keyring: Keyring,
    private readonly sources: KeySources,
    private readonly now: () => Date,
    private readonly log: Logger,
  ) {}

  /**
   * Our keypair doc. Kept in memory for a short while: every outgoing copy
   * needs it, and a renewal made on another device arrives by sync anyway.
   */
  async ownKey(): Promise<OwnKeyDoc | null> {
    if (this.ownCache && this.ownCache.until > Date.now()) return this.ownCache.doc;
    const doc = await this.opts.store.get<OwnKeyDoc>(OWN_KEY_DOC, this.address);
    this.ownCache = doc ? { doc, until: Date.now() + 30_000 } : null;
    return doc;
  }

  /** Drops the in-memory copy of our key doc (it changed in the store: a renewal or import on another device arrived by sync). */
  forgetOwnKey(): void {
    this.ownCache = null;
  }

  private async saveOwnKey(doc: OwnKeyDoc): Promise<void> {
    await this.opts.store.put(OWN_KEY_DOC, this.address, doc);
    this.ownCache = { doc, until: Date.now() + 30_000 };
  }

  /** Our keypair doc, or an error when there is none yet; starts a renewal in the background when expiry is close. */
  async requireOwnKey(): Promise<OwnKeyDoc> {
    const own = await this.ownKey();
    if (!own) throw new KeyManagerError('no-own-key', `no keypair for ${this.address} yet`);
    // A daemon runs for months: renew (and republish) in the background when expiry comes close.
    if (own.expiresAt && !this.renewing && Date.parse(own.expiresAt) - this.now().getTime() < (this.opts.renewBeforeDays ?? 30) * DAY) {
      this.renewing = this.ensureOwnKey()
        .catch((err: Error) => this.log.warn({ err: err.message }, 'renewing own key failed'))
        .finally(() => (this.renewing = null));
    }
    return own;
  }

  /**
   * Makes sure we have a valid keypair: generates one at account creation,
   * extends its expiry when it is close, and (re)publishes the public key
   * when the directory has not seen this version. Safe to call at every start.
   */
  async ensureOwnKey(): Promise<OwnKeyDoc> {
    const lifetime = (this.opts.keyLifetimeDays ?? 365) * 24 * 3600;
    this.ownCache = null;
    let own = await this.ownKey();
    const now = this.now();
    if (!own) {
      const gen = await generateKeyPair({ address: this.address, name: this.opts.name, algorithm: this.opts.algorithm, lifetimeSeconds: lifetime, date: now });
      own = {
        address: this.address,
        fingerprint: gen.fingerprint,
        privateArmored: gen.privateArmored,
        publicArmored: gen.publicArmored,
        algorithm: this.opts.algorithm ?? 'curve25519',
        createdAt: now.toISOString(),
        expiresAt: gen.expiresAt,
        previous: [],
      };
      await this.saveOwnKey(own);
      this.log.info({ fingerprint: own.fingerprint }, 'generated own keypair');
    } else if (own.expiresAt && Date.parse(own.expiresAt) - now.getTime() < (this.opts.renewBeforeDays ?? 30) * DAY) {
      const renewed = await renewKey(own.privateArmored, lifetime, now);
      own = { ...own, privateArmored: renewed.privateArmored, publicArmored: renewed.publicArmored, expiresAt: renewed.expiresAt };
      await this.saveOwnKey(own);
      this.log.info({ fingerprint: own.fingerprint, expiresAt: own.expiresAt }, 'renewed own key');
    }
    await this.keyring.add(this.address, own.publicArmored, 'own', 'verified');
    if (own.published?.fingerprint !== own.fingerprint || own.published?.expiresAt !== own.expiresAt) {
      await this.publishOwnKey(own).catch((err: Error) => this.log.warn({ err: err.message }, 'publishing own key failed; will retry at next start'));
    }
    return own;
  }

  /**
   * Makes an existing keypair (e.g. from GnuPG) our own: the current one is
   * retired (kept for old mail), the new one pinned and published.
   */
  async importOwnKey(armoredPrivate: string, passphrase?: string): Promise<OwnKeyDoc> {
    let key;
    try {
      key = await readPrivateForImport(armoredPrivate, passphrase);
    } catch (err) {
      throw new KeyManagerError('bad-key', `cannot use this private key: ${(err as Error).message}`);
    }
    if (!key.info.addresses.includes(this.address)) throw new KeyManagerError('address-mismatch', `the key has no user ID for ${this.address}`);
    if (!key.info.canEncrypt || key.info.revoked) throw new KeyManagerError('unusable', 'the key has no valid encryption subkey');
    const current = await this.ownKey();
    const previous = current ? [...current.previous, { fingerprint: current.fingerprint, privateArmored: current.privateArmored }] : [];
    const own: OwnKeyDoc = {
      address: this.address,
      fingerprint: key.fingerprint,
      privateArmored: key.privateArmored,
      publicArmored: key.publicArmored,
      algorithm: key.info.algorithm,
      createdAt: key.info.createdAt,
      expiresAt: key.expiresAt,
      previous: previous.filter((p) => p.fingerprint !== key.fingerprint),
    };
    await this.saveOwnKey(own);
    await this.keyring.add(this.address, own.publicArmored, 'own', 'verified');
    await this.keyring.pin(this.address, own.fingerprint);
    await this.publishOwnKey(own).catch((err: Error) => this.log.warn({ err: err.message }, 'publishing own key failed; will retry at next start'));
    this.log.info({ fingerprint: own.fingerprint }, 'imported own keypair');
    return own;
  }

  private async publishOwnKey(own: OwnKeyDoc): Promise<void> {
    const publish = this.opts.publish ?? (this.opts.provider?.token ? (a: string) => this.sources.publish(this.address, a) : null);
    if (!publish) return;
    await publish(own.publicArmored);
    const fresh = (await this.ownKey()) ?? own;
    fresh.published = { fingerprint: own.fingerprint, expiresAt: own.expiresAt, at: this.now().toISOString() };
    await this.saveOwnKey(fresh);
  }
}
