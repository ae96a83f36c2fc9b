// Web Key Directory naming (draft-koch-openpgp-webkey-service §3.1): the key
// for local@domain lives under hu/<z-base-32(SHA-1(lowercase local part))>.
import crypto from 'node:crypto';

// z-base-32 alphabet, RFC 6189 §5.1.6.
const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

export function zbase32(data: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}

export function wkdHash(localPart: string): string {
  return zbase32(crypto.createHash('sha1').update(localPart.toLowerCase(), 'utf8').digest());
}
