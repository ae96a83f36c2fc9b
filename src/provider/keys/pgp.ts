// The provider's only OpenPGP code besides MX encryption: validating keys
// uploaded to the directory. (The seam rule "only keymanager and provider/mx
// import openpgp" is kept in spirit: both uses are server-side key handling.)
import * as openpgp from 'openpgp';

export class KeyValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyValidationError';
  }
}

export interface ValidatedKey {
  key: openpgp.PublicKey;
  /** Re-armored public part only (whatever extra armor headers the upload had are dropped). */
  armored: string;
  fingerprint: string;
}

function userIdMatches(userId: string, address: string): boolean {
  const lower = userId.toLowerCase();
  return lower === address || lower.includes(`<${address}>`);
}

/** Parses an uploaded armored key and checks it is usable for mail to `address`. */
export async function validatePublicKey(armored: string, address: string): Promise<ValidatedKey> {
  let key: openpgp.Key;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch {
    throw new KeyValidationError('not an armored OpenPGP key');
  }
  // Never keep secret key material on the provider, even if uploaded by mistake.
  if (key.isPrivate()) throw new KeyValidationError('a private key was uploaded; upload only the public key');
  if (!key.getUserIDs().some((uid) => userIdMatches(uid, address))) {
    throw new KeyValidationError(`no user ID of the key contains ${address}`);
  }
  try {
    await key.getEncryptionKey();
  } catch {
    throw new KeyValidationError('the key has no valid encryption subkey (expired, revoked or signing-only)');
  }
  const pub = key as openpgp.PublicKey;
  return { key: pub, armored: pub.armor(), fingerprint: pub.getFingerprint() };
}

export async function readPublicKey(armored: string): Promise<openpgp.PublicKey> {
  return (await openpgp.readKey({ armoredKey: armored })) as openpgp.PublicKey;
}

/** The binary (unarmored) transferable public key, as WKD serves it (§3.1). */
export async function armoredToBinary(armored: string): Promise<Uint8Array> {
  return (await readPublicKey(armored)).write();
}
