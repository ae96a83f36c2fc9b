// The storage secret and the keys derived from it (DESIGN.md "Soledad").
//
// A random 256-bit secret per account; HKDF-SHA256 (RFC 5869) derives one key
// for document encryption and one for document-id HMACs, with distinct info
// labels so neither can stand in for the other. The secret is stored wrapped:
// scrypt (RFC 7914) of the passphrase → AES-256-GCM key, in a versioned JSON
// record that carries its own KDF parameters and salt, so parameters can be
// raised later without breaking old accounts.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { SoledadError, WrongPassphraseError } from './errors.js';

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

export const SECRET_BYTES = 32;

export interface KdfParams {
  /** CPU/memory cost, a power of two. Memory used is 128 * N * r bytes. */
  N: number;
  r: number;
  p: number;
}

/** Production default: N = 2^17, r = 8 → 128 MiB per unlock. */
export const DEFAULT_KDF: KdfParams = { N: 2 ** 17, r: 8, p: 1 };

/** The wrapped secret as stored (locally and in the replicated database). */
export interface WrappedSecret {
  v: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  iv: string;
  /** Ciphertext of the secret followed by the 16-byte GCM tag, base64. */
  data: string;
}

export interface DerivedKeys {
  /** AES-256-GCM key for document and blob contents. */
  docKey: Buffer;
  /** HMAC-SHA256 key for document ids. */
  idKey: Buffer;
}

const INFO_DOC = 'sealmail/soledad/v1/document-encryption';
const INFO_ID = 'sealmail/soledad/v1/document-id-hmac';

export function generateSecret(): Buffer {
  return crypto.randomBytes(SECRET_BYTES);
}

export function deriveKeys(secret: Buffer): DerivedKeys {
  const derive = (info: string): Buffer => Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
  return { docKey: derive(INFO_DOC), idKey: derive(INFO_ID) };
}

function checkKdf(kdf: KdfParams): void {
  const powerOfTwo = Number.isInteger(kdf.N) && kdf.N > 1 && (kdf.N & (kdf.N - 1)) === 0;
  if (!powerOfTwo || !Number.isInteger(kdf.r) || kdf.r < 1 || !Number.isInteger(kdf.p) || kdf.p < 1) {
    throw new SoledadError(`invalid scrypt parameters N=${kdf.N} r=${kdf.r} p=${kdf.p}`, 'BAD_KDF');
  }
}

/**
 * The last derivation started in this process. Derivations run one at a
 * time: each holds 128 * N * r bytes (128 MiB by default) while it runs, and
 * a daemon opening two accounts ran two side by side, its memory peak of the
 * whole start (bench/daemon-startup: ~370 MB). Being bound by memory
 * bandwidth, two at once took 663 ms here against 740 ms in turn.
 */
let lastDerivation: Promise<unknown> = Promise.resolve();

async function passphraseKey(passphrase: string, kdf: KdfParams, salt: Buffer): Promise<Buffer> {
  checkKdf(kdf);
  // Node refuses scrypt above 32 MiB unless maxmem is raised explicitly.
  const maxmem = 128 * kdf.N * kdf.r * kdf.p + 64 * 1024 * 1024;
  const derivation = lastDerivation.then(() => scrypt(passphrase.normalize('NFC'), salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem }));
  lastDerivation = derivation.catch(() => undefined);
  return derivation;
}

/** Associated data: the format version and every KDF parameter, so none can be swapped. */
function wrapAad(w: Pick<WrappedSecret, 'v' | 'kdf' | 'cipher'>): Buffer {
  const { name, N, r, p, salt } = w.kdf;
  return Buffer.from(`sealmail-secret:v${w.v}:${w.cipher}:${name}:${N}:${r}:${p}:${salt}`);
}

export async function wrapSecret(secret: Buffer, passphrase: string, kdf: KdfParams = DEFAULT_KDF): Promise<WrappedSecret> {
  const salt = crypto.randomBytes(16);
  const key = await passphraseKey(passphrase, kdf, salt);
  const iv = crypto.randomBytes(12);
  const header = {
    v: 1 as const,
    kdf: { name: 'scrypt' as const, N: kdf.N, r: kdf.r, p: kdf.p, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm' as const,
  };
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(wrapAad(header));
  const data = Buffer.concat([cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
  return { ...header, iv: iv.toString('base64'), data: data.toString('base64') };
}

export function isWrappedSecret(x: unknown): x is WrappedSecret {
  const w = x as WrappedSecret;
  return !!w && w.v === 1 && w.cipher === 'aes-256-gcm' && w.kdf?.name === 'scrypt' && typeof w.iv === 'string' && typeof w.data === 'string';
}

/** Throws WrongPassphraseError when the passphrase (or the record) does not authenticate. */
export async function unwrapSecret(wrapped: WrappedSecret, passphrase: string): Promise<Buffer> {
  if (!isWrappedSecret(wrapped)) throw new SoledadError('unsupported wrapped-secret format', 'BAD_SECRET_FORMAT');
  const { N, r, p, salt } = wrapped.kdf;
  const key = await passphraseKey(passphrase, { N, r, p }, Buffer.from(salt, 'base64'));
  const data = Buffer.from(wrapped.data, 'base64');
  if (data.length !== SECRET_BYTES + 16) throw new SoledadError('corrupt wrapped secret', 'BAD_SECRET_FORMAT');
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(wrapped.iv, 'base64'));
    decipher.setAAD(wrapAad(wrapped));
    decipher.setAuthTag(data.subarray(SECRET_BYTES));
    return Buffer.concat([decipher.update(data.subarray(0, SECRET_BYTES)), decipher.final()]);
  } catch {
    throw new WrongPassphraseError();
  }
}
