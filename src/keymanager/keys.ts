// Thin layer over OpenPGP.js for key material: generate, read, inspect, renew.
// Keys are v4 (RFC 4880 format, still valid under RFC 9580) with
// Ed25519/Cv25519 ("legacy" curve names in OpenPGP.js) so GnuPG 2.2 reads them.
import * as openpgp from 'openpgp';

export type KeyAlgorithm = 'curve25519' | 'rsa4096';

/** One config for everything we do, so micalg=pgp-sha256 is what we really use. */
export const PGP_CONFIG: Partial<openpgp.Config> = {
  preferredHashAlgorithm: openpgp.enums.hash.sha256,
};

export interface KeyInfo {
  fingerprint: string;
  /** OpenPGP.js name of the primary key's algorithm, e.g. 'eddsaLegacy', 'rsaEncryptSign'. */
  algorithm: string;
  /** Lower-cased addresses found in the user IDs. */
  addresses: string[];
  createdAt: string;
  /** ISO date, or null when the key never expires. */
  expiresAt: string | null;
  revoked: boolean;
  /** A currently valid encryption subkey exists (not expired, not revoked). */
  canEncrypt: boolean;
  isPrivate: boolean;
}

export interface GeneratedKey {
  privateArmored: string;
  publicArmored: string;
  fingerprint: string;
  expiresAt: string | null;
}

export async function generateKeyPair(opts: {
  address: string;
  name?: string;
  algorithm?: KeyAlgorithm;
  /** Seconds; 0 = never expires. */
  lifetimeSeconds: number;
  date?: Date;
}): Promise<GeneratedKey> {
  const base = {
    userIDs: [{ name: opts.name ?? '', email: opts.address }],
    keyExpirationTime: opts.lifetimeSeconds,
    date: opts.date,
    format: 'object' as const,
    config: PGP_CONFIG,
  };
  const { privateKey } =
    opts.algorithm === 'rsa4096'
      ? await openpgp.generateKey({ ...base, type: 'rsa', rsaBits: 4096 })
      : await openpgp.generateKey({ ...base, type: 'ecc', curve: 'curve25519Legacy' });
  return describeGenerated(privateKey);
}

async function describeGenerated(privateKey: openpgp.PrivateKey): Promise<GeneratedKey> {
  const info = await inspect(privateKey);
  return {
    privateArmored: privateKey.armor(),
    publicArmored: privateKey.toPublic().armor(),
    fingerprint: info.fingerprint,
    expiresAt: info.expiresAt,
  };
}

/**
 * New self-signatures with a later expiry on the same key material: the
 * fingerprint stays, so correspondents' pinned keys stay valid.
 */
export async function renewKey(privateArmored: string, lifetimeSeconds: number, date = new Date()): Promise<GeneratedKey> {
  const privateKey = await openpgp.readPrivateKey({ armoredKey: privateArmored });
  const users = privateKey.users.map((u) => u.userID).filter((u): u is openpgp.UserIDPacket => u !== null);
  const { privateKey: renewed } = await openpgp.reformatKey({
    privateKey,
    userIDs: users.map((u) => ({ name: u.name, email: u.email, comment: u.comment })),
    // The expiry is counted from the key's creation (RFC 9580 §5.2.3.13), not from now.
    keyExpirationTime: lifetimeSeconds === 0 ? 0 : Math.ceil((date.getTime() - privateKey.getCreationTime().getTime()) / 1000) + lifetimeSeconds,
    date,
    format: 'object',
    config: PGP_CONFIG,
  });
  return describeGenerated(renewed);
}

// Parsed keys by their armored text. Parsing and checking self-signatures
// costs more than encrypting 100 KB, and OpenPGP.js remembers verified
// signatures on the key object, so reusing it makes each message cheap.
// Callers must not mutate keys they get from here.
const parsed = new Map<string, Promise<openpgp.Key>>();
const PARSED_MAX = 512;

export function parseArmoredKey(armored: string): Promise<openpgp.Key> {
  let p = parsed.get(armored);
  if (!p) {
    p = openpgp.readKey({ armoredKey: armored });
    p.catch(() => parsed.delete(armored));
    if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value as string);
    parsed.set(armored, p);
  }
  return p;
}

/**
 * Reads a private key exported elsewhere (e.g. `gpg --export-secret-keys
 * --armor`), unlocking it with the passphrase when it has one: the copy we
 * keep is protected by Soledad's encryption instead.
 */
export async function readPrivateForImport(armored: string, passphrase?: string): Promise<GeneratedKey & { info: KeyInfo }> {
  let key = await openpgp.readPrivateKey({ armoredKey: armored });
  if (!key.isDecrypted()) {
    if (passphrase === undefined) throw new Error('the private key is passphrase-protected; give its passphrase');
    key = await openpgp.decryptKey({ privateKey: key, passphrase });
  }
  const described = await describeGenerated(key);
  return { ...described, info: await inspect(key) };
}

/** Reads one key from armored text or binary bytes (WKD serves binary). */
export async function readAnyKey(data: string | Uint8Array): Promise<openpgp.Key> {
  if (typeof data === 'string') return parseArmoredKey(data);
  const head = Buffer.from(data.subarray(0, 64)).toString('latin1');
  if (head.includes('-----BEGIN PGP')) return openpgp.readKey({ armoredKey: Buffer.from(data).toString('utf8') });
  return openpgp.readKey({ binaryKey: data });
}

/** Reads every key in an armored block (GnuPG's `--export --armor` of several keys). */
export async function readAllKeys(armored: string): Promise<openpgp.Key[]> {
  return openpgp.readKeys({ armoredKeys: armored });
}

export async function inspect(key: openpgp.Key, date = new Date()): Promise<KeyInfo> {
  const addresses = key.users
    .map((u) => u.userID?.email?.toLowerCase())
    .filter((e): e is string => !!e);
  let expires: Date | number | null = null;
  try {
    expires = await key.getExpirationTime();
  } catch {
    expires = null;
  }
  const revoked = await key.isRevoked(undefined, undefined, date).catch(() => false);
  const canEncrypt = await key.getEncryptionKey(undefined, date).then(() => true, () => false);
  return {
    fingerprint: key.getFingerprint().toUpperCase(),
    algorithm: String(key.getAlgorithmInfo().algorithm),
    addresses: [...new Set(addresses)],
    createdAt: key.getCreationTime().toISOString(),
    expiresAt: expires instanceof Date ? expires.toISOString() : null,
    revoked,
    canEncrypt,
    isPrivate: key.isPrivate(),
  };
}

export function publicArmor(key: openpgp.Key): string {
  return (key.isPrivate() ? key.toPublic() : key).armor();
}

/** Binary public key, for the Autocrypt keydata attribute. */
export function publicBinary(key: openpgp.Key): Uint8Array {
  return (key.isPrivate() ? key.toPublic() : key).write();
}

/** Merges two versions of the same key (new signatures, new subkeys, revocations). */
export async function mergeKeys(a: openpgp.Key, b: openpgp.Key): Promise<openpgp.Key> {
  if (a.getFingerprint() !== b.getFingerprint()) throw new Error('cannot merge different keys');
  return a.update(b);
}

export { openpgp };
