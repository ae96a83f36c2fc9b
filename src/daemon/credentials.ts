// Secrets an account derives or generates.
//
// One passphrase serves the user: it unwraps the storage secret (Soledad) and
// logs in to the provider. The provider must never see the passphrase itself
// (it stores the wrapped secret, so the passphrase would unwrap it); it gets a
// login password derived from it with a memory-hard KDF under a distinct
// salt, and keeps only its own verifier of that.
import { scrypt as scryptCb, randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string, salt: string, len: number, opts: object) => Promise<Buffer>;

/** N=2^15, r=8: 32 MiB and ~0.1 s, once per login. */
export async function providerPassword(address: string, passphrase: string, cost = 2 ** 15): Promise<string> {
  const salt = `sealmail/provider-login/v1/${address.toLowerCase()}`;
  const key = await scrypt(passphrase, salt, 32, { N: cost, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
  return key.toString('base64url');
}

/** The password the local mail client uses on 127.0.0.1 (shown by `sealmail settings`). */
export function generateLocalPassword(): string {
  return randomBytes(15).toString('base64url');
}

/** A passphrase for the quickstart's generated accounts (six groups of four). */
export function generatePassphrase(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  let out = '';
  for (let i = 0; i < 24; i++) {
    if (i > 0 && i % 4 === 0) out += '-';
    out += alphabet[randomInt(alphabet.length)];
  }
  return out;
}
