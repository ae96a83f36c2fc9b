// Keys a message carries as attachments (application/pgp-keys, RFC 3156
// section 7), imported for the sender (DESIGN.md "Incoming", step 3). The
// sender's From can be forged, so such a key is taken only for the From
// address (the keyring refuses a key without a user ID for it), at the lowest
// validation level: it never displaces a key from a stronger source, and it
// is imported after the message's own signature was checked, so a key cannot
// vouch for the message that brought it.
import {
  extractAddresses,
  headerValue,
  headerValues,
  parseContentType,
  parseHeader,
  splitEntity,
  splitMultipart,
  toCRLF,
} from '../keymanager/mime.js';
import type { KeySource, ValidationLevel } from '../keymanager/index.js';
import { logger } from '../util/log.js';

const log = logger('fetch');

/** Limits against hostile nesting and part counts. */
const MAX_DEPTH = 8;
const MAX_PARTS = 200;
const MAX_KEYS = 4;
const MAX_KEY_BYTES = 512 * 1024;

function decodeTransfer(encoding: string | undefined, body: Buffer): Buffer {
  const cte = (encoding ?? '').trim().toLowerCase();
  if (cte === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') {
    const text = body.toString('latin1').replace(/=\r?\n/g, '');
    return Buffer.from(text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  }
  return body;
}

/** The contents of the application/pgp-keys parts of a message (decoded), at most MAX_KEYS. */
export function attachedKeyData(raw: Buffer): Buffer[] {
  return keyParts(toCRLF(raw));
}

/**
 * The walk behind attachedKeyData over a message in CRLF form. Only part
 * headers are read; a leaf's body is looked at only when it is a key, so a
 * message with a large attachment costs a few delimiter searches.
 */
function keyParts(canonical: Buffer): Buffer[] {
  const found: Buffer[] = [];
  let parts = 0;
  const walk = (entity: Buffer, depth: number): void => {
    if (found.length >= MAX_KEYS || ++parts > MAX_PARTS || depth > MAX_DEPTH) return;
    const { header, body } = splitEntity(entity);
    const fields = parseHeader(header);
    const ct = parseContentType(headerValue(fields, 'content-type'));
    if (ct.mime.startsWith('multipart/') && ct.params.boundary) {
      for (const part of splitMultipart(body, ct.params.boundary)) walk(part, depth + 1);
    } else if (ct.mime === 'application/pgp-keys') {
      const data = decodeTransfer(headerValue(fields, 'content-transfer-encoding'), body);
      if (data.length > 0 && data.length <= MAX_KEY_BYTES) found.push(data);
    }
  };
  walk(canonical, 0);
  return found;
}

export interface KeyringLike {
  add(address: string, data: string | Uint8Array, source: KeySource, level: ValidationLevel): Promise<unknown>;
}

/** Imports the attached keys of a (cleartext) message for its sender; returns how many were taken. Never throws. */
export async function importAttachedKeys(raw: Buffer, keyring: KeyringLike, ownAddress: string): Promise<number> {
  let taken = 0;
  try {
    const canonical = toCRLF(raw);
    const { header } = splitEntity(canonical);
    const from = extractAddresses(headerValues(parseHeader(header), 'from'))[0];
    if (!from || from === ownAddress.toLowerCase()) return 0;
    for (const data of keyParts(canonical)) {
      try {
        await keyring.add(from, data.toString('latin1').includes('-----BEGIN PGP') ? data.toString('latin1') : new Uint8Array(data), 'import', 'gossip');
        taken++;
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'attached key not taken');
      }
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not read attached keys');
  }
  return taken;
}
