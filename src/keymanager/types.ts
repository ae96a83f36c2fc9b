// Keyring records and validation levels.

/** Where a key came from. */
export type KeySource = 'own' | 'import' | 'provider' | 'wkd' | 'hkp' | 'autocrypt' | 'gossip';

/**
 * How much we trust that a key belongs to its address, weakest first. A key
 * from a weaker level never displaces one from a stronger level; 'verified'
 * (a fingerprint the user confirmed: pinned) is only replaced explicitly.
 */
export type ValidationLevel = 'gossip' | 'autocrypt' | 'keyserver' | 'wkd' | 'provider' | 'verified';

const RANK: Record<ValidationLevel, number> = {
  gossip: 0,
  autocrypt: 1,
  keyserver: 1,
  wkd: 2,
  provider: 3,
  verified: 4,
};

export function levelRank(level: ValidationLevel): number {
  return RANK[level];
}

export const DEFAULT_LEVEL: Record<KeySource, ValidationLevel> = {
  own: 'verified',
  import: 'keyserver',
  provider: 'provider',
  wkd: 'wkd',
  hkp: 'keyserver',
  autocrypt: 'autocrypt',
  gossip: 'gossip',
};

export interface KeyRecord {
  fingerprint: string;
  /** Armored public key (merged with every later version seen). */
  armored: string;
  source: KeySource;
  level: ValidationLevel;
  /** Level before the user pinned it, restored on unpin. */
  levelBeforePin?: ValidationLevel;
  firstSeen: string;
  lastSeen: string;
  lastUsed?: string;
  expiresAt: string | null;
  revoked: boolean;
}

/** Autocrypt Level 1 peer state (§2.3), per address. Dates are ISO strings. */
export interface AutocryptPeerState {
  lastSeen: string;
  autocryptTimestamp?: string;
  /** Fingerprint of the key from the latest Autocrypt header. */
  fingerprint?: string;
  preferEncrypt: 'mutual' | 'nopreference';
  gossipTimestamp?: string;
  gossipFingerprint?: string;
}

/** One document per address: every key seen for it, plus Autocrypt state. */
export interface KeyringDoc {
  address: string;
  keys: KeyRecord[];
  autocrypt?: AutocryptPeerState;
  /** When the network sources were last asked about this address. */
  refreshedAt?: string;
  /** Per-contact policy: refuse to send to this address without encryption. */
  policy?: { alwaysEncrypt?: boolean };
}

export const KEYRING_DOC = 'keyring';
export const OWN_KEY_DOC = 'own-key';

/** Our own keypair for an address. Stored in the synced (Soledad-encrypted) store. */
export interface OwnKeyDoc {
  address: string;
  fingerprint: string;
  privateArmored: string;
  publicArmored: string;
  /** 'curve25519' or 'rsa4096' when generated here; OpenPGP.js's algorithm name when imported. */
  algorithm: string;
  createdAt: string;
  expiresAt: string | null;
  /** Fingerprint + expiry last published to the provider's directory. */
  published?: { fingerprint: string; expiresAt: string | null; at: string };
  /** Retired keys, kept so old mail stays readable. */
  previous: Array<{ fingerprint: string; privateArmored: string }>;
}

/** What the SMTP gateway needs to know about a recipient. */
export interface RecipientKey {
  address: string;
  fingerprint: string;
  armored: string;
  level: ValidationLevel;
  source: KeySource;
}

export type LookupResult =
  | { found: true; key: RecipientKey }
  | { found: false; reason: string; /** The contact is set to always-encrypt. */ alwaysEncrypt?: boolean };

export type AutocryptRecommendation = 'disable' | 'discourage' | 'available' | 'encrypt';

/** One error type for the keymanager, with a machine-readable code. */
export class KeyManagerError extends Error {
  constructor(
    readonly code: 'no-own-key' | 'bad-key' | 'address-mismatch' | 'not-found' | 'publish-failed' | 'unusable',
    message: string,
  ) {
    super(message);
    this.name = 'KeyManagerError';
  }
}
