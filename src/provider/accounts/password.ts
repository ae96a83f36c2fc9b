// Password verifiers: the password itself is never stored, only an scrypt
// (memory-hard, RFC 7914) hash with its salt and cost parameters, so the
// parameters can be raised later without invalidating existing accounts.
import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** RFC 7914 §2 recommends r=8, p=1; N=2^15 costs 32 MiB and ~50–100 ms here. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };

export interface PasswordVerifier {
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
}

const KEY_LEN = 32;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
  return scrypt(password.normalize('NFC'), salt, KEY_LEN, { N: params.N, r: params.r, p: params.p, maxmem });
}

export async function makeVerifier(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordVerifier> {
  const salt = crypto.randomBytes(16);
  const hash = await derive(password, salt, params);
  return { alg: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

export async function checkPassword(password: string, v: PasswordVerifier): Promise<boolean> {
  if (v.alg !== 'scrypt') return false;
  const expected = Buffer.from(v.hash, 'base64');
  const actual = await derive(password, Buffer.from(v.salt, 'base64'), v);
  return actual.length === expected.length && crypto.timingSafeEqual(actual, expected);
}
