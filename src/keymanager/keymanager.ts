// The keymanager of one account: our own keypair (generated, renewed,
// published; see own-key.ts), the keyring of correspondents' keys with the
// lookup chain (local keyring → provider directory → WKD → HKP), and Autocrypt.
import type { DocumentStore } from '../soledad/types.js';
import { logger } from '../util/log.js';
import {
  autocryptField,
  formatAutocryptHeader,
  parseAutocryptHeader,
  peerStateNeedsWrite,
  recommend,
  updateGossipState,
  updatePeerState,
} from './autocrypt.js';
import { inspect, publicBinary, readAllKeys, readAnyKey, type KeyAlgorithm } from './keys.js';
import { Keyring, normalizeAddress, preferredRecord } from './keyring.js';
import { KeySources, type LookupOptions } from './lookup.js';
import { OwnKeys } from './own-key.js';
import { extractAddresses, headerValue, headerValues, parseHeader, splitEntity, toCRLF } from './mime.js';
import { buildEncrypted, buildSigned, openMessage, type OpenedMessage } from './pgpmime.js';
import { encryptedStream, signedStream, type PgpSource } from './pgpmime-build.js';
import {
  DEFAULT_LEVEL,
  KeyManagerError,
  type AutocryptRecommendation,
  type KeySource,
  type LookupResult,
  type OwnKeyDoc,
  type ValidationLevel,
} from './types.js';

const DAY = 24 * 3600 * 1000;
const NETWORK_SOURCES = new Set<KeySource>(['provider', 'wkd', 'hkp']);

export interface KeyManagerOptions extends LookupOptions {
  /** The synced, Soledad-encrypted store (keys follow the user to other devices). */
  store: DocumentStore;
  address: string;
  name?: string;
  algorithm?: KeyAlgorithm;
  /** Lifetime of our key; default 365 days. */
  keyLifetimeDays?: number;
  /** Renew (extend the expiry of) our key when it expires within this many days; default 30. */
  renewBeforeDays?: number;
  /** Publishes our public key; default: PUT to the provider directory when a token is configured. */
  publish?: (armored: string) => Promise<void>;
  /** Directory keys are looked up again when older than this; default 7 days. */
  refreshAfterDays?: number;
  /** How long a lookup that found nothing is remembered before asking the network again; default 10 minutes. */
  missCacheMs?: number;
  /** Our Autocrypt prefer-encrypt setting; default 'mutual'. */
  preferEncrypt?: 'mutual' | 'nopreference';
  now?: () => Date;
}

export class KeyManager {
  readonly address: string;
  readonly keyring: Keyring;
  private readonly sources: KeySources;
  private readonly now: () => Date;
  private readonly log;
  private readonly own: OwnKeys;
  /** Addresses no source had a key for, until when (ms). */
  private readonly misses = new Map<string, number>();
  /** Per address, the tail of the keyring updates queued for it (see updateSerially). */
  private readonly updating = new Map<string, Promise<void>>();

  constructor(private readonly opts: KeyManagerOptions) {
    this.address = normalizeAddress(opts.address);
    this.now = opts.now ?? (() => new Date());
    this.keyring = new Keyring(opts.store, this.now);
    this.sources = new KeySources(opts, this.address.slice(this.address.lastIndexOf('@') + 1));
    this.log = logger('keymanager', { address: this.address });
    this.own = new OwnKeys(opts, this.address, this.keyring, this.sources, this.now, this.log);
  }

  // ---- own key ----

  /** Our keypair doc (kept in memory a short while; see OwnKeys.ownKey). */
  ownKey(): Promise<OwnKeyDoc | null> {
    return this.own.ownKey();
  }

  /** Drops the in-memory copy of our key doc (it changed in the store: a renewal or import on another device arrived by sync). */
  forgetOwnKey(): void {
    this.own.forgetOwnKey();
  }

  /** Makes sure we have a valid, published keypair (see OwnKeys.ensureOwnKey); safe to call at every start. */
  ensureOwnKey(): Promise<OwnKeyDoc> {
    return this.own.ensureOwnKey();
  }

  /** Makes an existing keypair (e.g. from GnuPG) our own; the current one is retired. */
  importOwnKey(armoredPrivate: string, passphrase?: string): Promise<OwnKeyDoc> {
    return this.own.importOwnKey(armoredPrivate, passphrase);
  }

  async exportPublicKey(): Promise<string> {
    return (await this.own.requireOwnKey()).publicArmored;
  }

  /** Our armored private keys, current first, then retired ones (to decrypt what the MX encrypted, old mail). */
  async decryptionKeys(): Promise<string[]> {
    const own = await this.own.requireOwnKey();
    return [own.privateArmored, ...own.previous.map((p) => p.privateArmored)];
  }

  /** Armored private key, unprotected (for `gpg --import`); the caller must handle it with care. */
  async exportPrivateKey(): Promise<string> {
    return (await this.own.requireOwnKey()).privateArmored;
  }

  // ---- keyring and lookup ----

  /**
   * Asks this HKP keyserver last from now on (null: none). Misses are
   * forgotten: the new keyserver may have keys the old chain did not.
   */
  setKeyserver(url: string | null): void {
    this.sources.setKeyserver(url);
    this.misses.clear();
  }

  /** Imports every key of an armored block (e.g. `gpg --export --armor`), for each address in its user IDs. */
  async importKeys(armored: string, opts: { level?: ValidationLevel; source?: KeySource } = {}): Promise<string[]> {
    const source = opts.source ?? 'import';
    const level = opts.level ?? DEFAULT_LEVEL[source];
    const fingerprints: string[] = [];
    let keys;
    try {
      keys = await readAllKeys(armored);
    } catch (err) {
      // OpenPGP.js reports damage as Error or TypeError alike: one error type, one sentence for the CLI.
      throw new KeyManagerError('bad-key', `not an OpenPGP key block: ${(err as Error).message}`);
    }
    for (const key of keys) {
      const info = await inspect(key, this.now());
      const pub = key.isPrivate() ? key.toPublic() : key;
      for (const addr of info.addresses) await this.keyring.add(addr, pub.armor(), source, level);
      fingerprints.push(info.fingerprint);
    }
    return fingerprints;
  }

  async pin(address: string, fingerprint: string): Promise<void> {
    await this.keyring.pin(address, fingerprint);
  }

  async unpin(address: string): Promise<void> {
    await this.keyring.unpin(address);
  }

  /**
   * The key to encrypt to for `address`: the keyring's preferred usable key;
   * when there is none (or `refresh`), the network sources are asked in
   * order and what they return is stored at their level. The choice is then
   * made again over everything known, so a weaker source cannot displace a
   * stronger key.
   */
  async lookup(address: string, opts: { refresh?: boolean } = {}): Promise<LookupResult> {
    const addr = normalizeAddress(address);
    const now = this.now();
    const doc = await this.keyring.load(addr);
    let choice = await preferredRecord(doc, now);
    if ('record' in choice && !opts.refresh && !this.isStale(choice.record, doc.refreshedAt, now)) return this.found(addr, choice.record);
    // Asking every source for an address nobody publishes can take seconds; remember the miss a while.
    const missUntil = this.misses.get(addr);
    if (!('record' in choice) && !opts.refresh && missUntil && missUntil > Date.now()) return this.notFound(addr, choice.reason);
    for await (const cand of this.sources.candidates(addr)) {
      const level: ValidationLevel = DEFAULT_LEVEL[cand.source];
      try {
        await this.keyring.add(addr, cand.data, cand.source, level);
      } catch (err) {
        this.log.warn({ recipient: addr, source: cand.source, err: (err as Error).message }, 'rejected key from source');
        continue;
      }
      choice = await preferredRecord(await this.keyring.load(addr), now);
      if ('record' in choice) break;
    }
    if ('record' in choice && NETWORK_SOURCES.has(choice.record.source)) {
      const fresh = await this.keyring.load(addr);
      fresh.refreshedAt = now.toISOString();
      await this.keyring.save(fresh);
    }
    if ('record' in choice) {
      this.misses.delete(addr);
      return this.found(addr, choice.record);
    }
    if (this.misses.size > 10_000) this.misses.clear();
    this.misses.set(addr, Date.now() + (this.opts.missCacheMs ?? 10 * 60_000));
    return this.notFound(addr, choice.reason);
  }

  private async notFound(address: string, reason: string): Promise<LookupResult> {
    const policy = (await this.keyring.load(address)).policy;
    return { found: false, reason, ...(policy?.alwaysEncrypt ? { alwaysEncrypt: true } : {}) };
  }

  /** Sets a contact to always-encrypt (the gateway then refuses to send to it without a usable key). */
  async setContactPolicy(address: string, policy: { alwaysEncrypt: boolean }): Promise<void> {
    const doc = await this.keyring.load(address);
    doc.policy = { ...doc.policy, ...policy };
    await this.keyring.save(doc);
  }

  /**
   * A key from a directory is asked for again after a while, so a revocation
   * or a renewal published there reaches us (an expired key is looked up anew
   * anyway, as it is no longer usable).
   */
  private isStale(rec: { source: KeySource; lastSeen: string }, refreshedAt: string | undefined, now: Date): boolean {
    if (!NETWORK_SOURCES.has(rec.source)) return false;
    const checked = Math.max(Date.parse(rec.lastSeen), refreshedAt ? Date.parse(refreshedAt) : 0);
    return now.getTime() - checked > (this.opts.refreshAfterDays ?? 7) * DAY;
  }

  private found(address: string, rec: { fingerprint: string; armored: string; level: ValidationLevel; source: KeySource }): LookupResult {
    return { found: true, key: { address, fingerprint: rec.fingerprint, armored: rec.armored, level: rec.level, source: rec.source } };
  }

  // ---- Autocrypt ----

  /** Our outgoing `Autocrypt:` header field (CRLF-terminated). */
  async autocryptHeader(): Promise<string> {
    const own = await this.own.requireOwnKey();
    const keydata = publicBinary(await readAnyKey(own.publicArmored));
    return autocryptField('Autocrypt', formatAutocryptHeader({ addr: this.address, preferEncrypt: this.opts.preferEncrypt ?? 'mutual', keydata }));
  }

  /** `Autocrypt-Gossip:` fields for the encrypted part of a message to several recipients (§2.6). */
  async gossipHeaders(addresses: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const a of addresses) {
      const r = await this.lookupLocal(a);
      if (!r.found) continue;
      const keydata = publicBinary(await readAnyKey(r.key.armored));
      out.push(autocryptField('Autocrypt-Gossip', formatAutocryptHeader({ addr: r.key.address, keydata })));
    }
    return out;
  }

  private async lookupLocal(address: string): Promise<LookupResult> {
    const c = await preferredRecord(await this.keyring.load(address), this.now());
    return 'record' in c ? this.found(normalizeAddress(address), c.record) : { found: false, reason: c.reason };
  }

  /**
   * Updates Autocrypt peer state from a received (cleartext) message: the
   * sender's Autocrypt header, and Autocrypt-Gossip headers when the message
   * was encrypted (gossip is only trusted inside encryption).
   */
  async processIncoming(raw: Buffer, opts: { encrypted: boolean }): Promise<void> {
    const { header } = splitEntity(toCRLF(raw));
    const fields = parseHeader(header);
    const from = extractAddresses(headerValues(fields, 'from'))[0];
    if (!from || from === this.address) return;
    const dateValue = headerValue(fields, 'date');
    const parsedDate = dateValue ? new Date(dateValue) : this.now();
    const date = Number.isNaN(parsedDate.getTime()) ? this.now() : parsedDate;
    // §2.3: only a single valid header whose addr matches From counts.
    const headers = headerValues(fields, 'autocrypt').map(parseAutocryptHeader).filter((h) => h?.addr === from);
    const header1 = headers.length === 1 ? headers[0] : null;
    await this.updateSerially(from, async () => {
      let accepted: { fingerprint: string; preferEncrypt: 'mutual' | 'nopreference' } | null = null;
      if (header1) {
        try {
          const { record } = await this.keyring.add(from, header1.keydata, 'autocrypt', 'autocrypt');
          accepted = { fingerprint: record.fingerprint, preferEncrypt: header1.preferEncrypt };
        } catch (err) {
          this.log.debug({ peer: from, err: (err as Error).message }, 'ignored Autocrypt header');
        }
      }
      const doc = await this.keyring.load(from);
      const state = updatePeerState(doc.autocrypt, date, accepted, this.now()).state;
      // Not a write per message: only what a decision depends on (PEER_STATE_DATE_STEP_MS).
      if (peerStateNeedsWrite(doc.autocrypt, state)) {
        doc.autocrypt = state;
        await this.keyring.save(doc);
      }
    });
    if (!opts.encrypted) return;
    const recipients = new Set(extractAddresses([...headerValues(fields, 'to'), ...headerValues(fields, 'cc')]));
    for (const value of headerValues(fields, 'autocrypt-gossip')) {
      const g = parseAutocryptHeader(value);
      if (!g || !recipients.has(g.addr) || g.addr === this.address) continue;
      try {
        await this.updateSerially(g.addr, async () => {
          const { record } = await this.keyring.add(g.addr, g.keydata, 'gossip', 'gossip');
          const gdoc = await this.keyring.load(g.addr);
          const state = updateGossipState(gdoc.autocrypt, date, record.fingerprint, this.now()).state;
          if (peerStateNeedsWrite(gdoc.autocrypt, state)) {
            gdoc.autocrypt = state;
            await this.keyring.save(gdoc);
          }
        });
      } catch (err) {
        this.log.debug({ peer: g.addr, err: (err as Error).message }, 'ignored gossip header');
      }
    }
  }

  /**
   * Runs a load-change-save of one address's keyring doc after the ones
   * queued before it: the fetch loop opens many messages at once, and two
   * from one sender would otherwise both load the same version and the
   * later save would drop the other's change.
   */
  private async updateSerially(address: string, update: () => Promise<void>): Promise<void> {
    const addr = normalizeAddress(address);
    const before = this.updating.get(addr) ?? Promise.resolve();
    const mine = before.then(update);
    const tail = mine.catch(() => undefined);
    this.updating.set(addr, tail);
    try {
      await mine;
    } finally {
      if (this.updating.get(addr) === tail) this.updating.delete(addr);
    }
  }

  /** Autocrypt Level 1 recommendation for a recipient (§2.4). */
  async recommendation(address: string): Promise<AutocryptRecommendation> {
    const doc = await this.keyring.load(address);
    const now = this.now();
    const usable = async (fpr?: string): Promise<boolean> => {
      const rec = fpr ? doc.keys.find((k) => k.fingerprint === fpr) : undefined;
      return rec ? (await inspect(await readAnyKey(rec.armored), now)).canEncrypt : false;
    };
    return recommend(doc.autocrypt, {
      ownPreferEncrypt: this.opts.preferEncrypt ?? 'mutual',
      autocryptKeyUsable: await usable(doc.autocrypt?.fingerprint),
      gossipKeyUsable: await usable(doc.autocrypt?.gossipFingerprint),
    });
  }

  // ---- messages ----

  /** PGP/MIME signed with our key. */
  async sign(raw: Buffer): Promise<Buffer> {
    return buildSigned(raw, { signingKey: (await this.own.requireOwnKey()).privateArmored });
  }

  /** PGP/MIME signed and encrypted to the recipients' keys and to ourselves. */
  async encrypt(raw: Buffer, recipientKeys: string[], opts: { gossip?: string[] } = {}): Promise<Buffer> {
    const own = await this.own.requireOwnKey();
    return buildEncrypted(raw, {
      signingKey: own.privateArmored,
      encryptionKeys: [...recipientKeys, own.publicArmored],
      innerHeaders: opts.gossip,
    });
  }

  /** The same as sign(), as a stream over a re-readable source (the gateway's spool). */
  async *signStream(src: PgpSource): AsyncGenerator<Buffer> {
    yield* signedStream(src, (await this.own.requireOwnKey()).privateArmored);
  }

  /** The same as encrypt(), as a stream over a re-readable source (the gateway's spool). */
  async *encryptStream(src: PgpSource, recipientKeys: string[], opts: { gossip?: string[] } = {}): AsyncGenerator<Buffer> {
    const own = await this.own.requireOwnKey();
    yield* encryptedStream(src, { signingKey: own.privateArmored, encryptionKeys: [...recipientKeys, own.publicArmored], innerHeaders: opts.gossip });
  }

  async markUsed(address: string, fingerprint: string): Promise<void> {
    await this.keyring.markUsed(address, fingerprint);
  }

  /**
   * Opens a received message with our keys (current and retired) and the
   * keyring's keys for its sender, then learns from it (Autocrypt).
   */
  async openMessage(raw: Buffer): Promise<OpenedMessage> {
    const learn = (msg: Buffer, encrypted: boolean): Promise<void> =>
      this.processIncoming(msg, { encrypted }).catch((err: Error) => this.log.warn({ err: err.message }, 'Autocrypt processing failed'));
    // The sender's Autocrypt header first, so a first signed message from them verifies.
    await learn(raw, false);
    const opened = await openMessage(raw, {
      decryptionKeys: await this.decryptionKeys(),
      verificationKeys: async (from) => (from ? (await this.keyring.load(from)).keys.map((k) => k.armored) : []),
    });
    if (opened.encryption === 'decrypted') await learn(opened.raw, true);
    return opened;
  }
}
