// PGP/MIME (RFC 3156): open what arrives (PGP/MIME encrypted, PGP/MIME
// signed, inline PGP). Building is in pgpmime-build.ts.
import * as openpgp from 'openpgp';
import { PGP_CONFIG } from './keys.js';
import {
  encodeQuotedPrintable,
  headerValue,
  parseContentType,
  parseHeader,
  partitionContentFields,
  serializeHeader,
  splitEntity,
  splitMultipart,
  toCRLF,
  type HeaderField,
} from './mime.js';
import { field, PROTECTED, toKey, toPrivate, type KeyInput } from './pgpmime-build.js';

export { buildEncrypted, buildSigned, type KeyInput } from './pgpmime-build.js';

export interface SignatureResult {
  status: 'valid' | 'invalid' | 'unknown-key' | 'none';
  fingerprint?: string;
  /** Signer key ID (hex) when the key is unknown. */
  keyId?: string;
}

export interface OpenedMessage {
  /** The cleartext message, outer headers kept (signed messages are returned unchanged). */
  raw: Buffer;
  encryption: 'none' | 'decrypted' | 'failed';
  signature: SignatureResult;
}

export interface OpenKeys {
  /** Our private keys (current and retired). */
  decryptionKeys: KeyInput[];
  /** Public keys that may have signed; or a function of the From address. */
  verificationKeys: KeyInput[] | ((from: string | undefined) => Promise<KeyInput[]>);
}

function decodeBody(fields: HeaderField[], body: Buffer): Buffer {
  const cte = (headerValue(fields, 'content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') {
    const text = body.toString('latin1').replace(/=\r\n/g, '');
    return Buffer.from(text.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  }
  return body;
}

/**
 * False when a text body certainly holds no armored PGP block: an unencoded
 * body is searched as bytes (no copy into a string); an encoded one has to be
 * decoded first, so it may.
 */
function mayHoldArmor(fields: HeaderField[], body: Buffer): boolean {
  const cte = (headerValue(fields, 'content-transfer-encoding') ?? '').toLowerCase();
  return cte === 'base64' || cte === 'quoted-printable' || body.indexOf(ARMOR_START) >= 0;
}
const ARMOR_START = Buffer.from('-----BEGIN PGP ');

/** A Buffer over the same memory (Buffer.from(uint8array) would copy). */
const bufferView = (a: Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function signatureResult(
  sigs: Array<{ keyID: openpgp.KeyID; verified: Promise<boolean> }>,
  keys: openpgp.Key[],
): Promise<SignatureResult> {
  if (sigs.length === 0) return { status: 'none' };
  const sig = sigs[0];
  try {
    await sig.verified;
    const signer = keys.find((k) => k.getKeys(sig.keyID).length > 0);
    return { status: 'valid', fingerprint: signer?.getFingerprint().toUpperCase() };
  } catch (err) {
    if (/could not find signing key/i.test((err as Error).message)) return { status: 'unknown-key', keyId: sig.keyID.toHex().toUpperCase() };
    return { status: 'invalid' };
  }
}

async function resolveVerificationKeys(keys: OpenKeys, from: string | undefined): Promise<openpgp.Key[]> {
  const list = typeof keys.verificationKeys === 'function' ? await keys.verificationKeys(from) : keys.verificationKeys;
  return Promise.all(list.map(toKey));
}

function fromAddress(fields: HeaderField[]): string | undefined {
  const v = headerValue(fields, 'from');
  const m = v?.match(/<([^>]+)>/) ?? v?.match(/([^\s<>,;"]+@[^\s<>,;"]+)/);
  return m?.[1].toLowerCase();
}

async function verifyDetached(signed: Buffer, sigPart: Buffer, keys: openpgp.Key[]): Promise<SignatureResult> {
  const { header, body } = splitEntity(sigPart);
  const sigText = decodeBody(parseHeader(header), body).toString('latin1');
  // Damaged input is reported, not thrown: a signature that does not parse,
  // and one that parses but fails inside verify (e.g. an unknown signature
  // type: "Invalid enum value"). Thrown, the latter kept the message from
  // ever being delivered (the fetch loop retried it as a store failure).
  try {
    const signature = await openpgp.readSignature({ armoredSignature: sigText });
    if (keys.length === 0) return { status: 'unknown-key', keyId: signature.getSigningKeyIDs()[0]?.toHex().toUpperCase() };
    const message = await openpgp.createMessage({ binary: signed });
    const result = await openpgp.verify({ message, signature, verificationKeys: keys, format: 'binary', config: PGP_CONFIG });
    return await signatureResult(result.signatures, keys);
  } catch {
    return { status: 'invalid' };
  }
}

/** Opens whatever PGP a message carries; never throws for bad input (it reports it). */
export async function openMessage(raw: Buffer, keys: OpenKeys): Promise<OpenedMessage> {
  const canonical = toCRLF(raw);
  const { header, body } = splitEntity(canonical);
  const fields = parseHeader(header);
  const ct = parseContentType(headerValue(fields, 'content-type'));
  const from = fromAddress(fields);

  if (ct.mime === 'multipart/encrypted' && ct.params.boundary) {
    const parts = splitMultipart(body, ct.params.boundary);
    const data = parts.find((p) => parseContentType(headerValue(parseHeader(splitEntity(p).header), 'content-type')).mime === 'application/octet-stream') ?? parts[1];
    if (!data) return { raw, encryption: 'failed', signature: { status: 'none' } };
    const { header: dh, body: db } = splitEntity(data);
    return openEncrypted(raw, fields, decodeBody(parseHeader(dh), db).toString('latin1'), keys, from, 'mime');
  }
  if (ct.mime === 'multipart/signed' && ct.params.boundary) {
    const parts = splitMultipart(body, ct.params.boundary);
    if (parts.length < 2) return { raw, encryption: 'none', signature: { status: 'invalid' } };
    const signature = await verifyDetached(parts[0], parts[1], await resolveVerificationKeys(keys, from));
    return { raw, encryption: 'none', signature };
  }
  if (ct.mime.startsWith('text/')) {
    if (!mayHoldArmor(fields, body)) return { raw, encryption: 'none', signature: { status: 'none' } };
    const text = decodeBody(fields, body).toString('latin1');
    if (text.includes('-----BEGIN PGP MESSAGE-----')) return openEncrypted(raw, fields, text, keys, from, 'inline');
    if (text.includes('-----BEGIN PGP SIGNED MESSAGE-----')) {
      const vkeys = await resolveVerificationKeys(keys, from);
      try {
        const block = text.slice(text.indexOf('-----BEGIN PGP SIGNED MESSAGE-----'));
        const message = await openpgp.readCleartextMessage({ cleartextMessage: block });
        if (vkeys.length === 0) return { raw, encryption: 'none', signature: { status: 'unknown-key' } };
        const result = await openpgp.verify({ message, verificationKeys: vkeys, config: PGP_CONFIG });
        return { raw, encryption: 'none', signature: await signatureResult(result.signatures, vkeys) };
      } catch {
        return { raw, encryption: 'none', signature: { status: 'invalid' } };
      }
    }
  }
  return { raw, encryption: 'none', signature: { status: 'none' } };
}

async function openEncrypted(
  original: Buffer,
  outerFields: HeaderField[],
  armoredText: string,
  keys: OpenKeys,
  from: string | undefined,
  kind: 'mime' | 'inline',
): Promise<OpenedMessage> {
  const start = armoredText.indexOf('-----BEGIN PGP MESSAGE-----');
  const endMarker = '-----END PGP MESSAGE-----';
  const end = armoredText.indexOf(endMarker);
  if (start < 0 || end < 0) return { raw: original, encryption: 'failed', signature: { status: 'none' } };
  let plain: Uint8Array;
  let sigs: Array<{ keyID: openpgp.KeyID; verified: Promise<boolean> }>;
  const vkeys = await resolveVerificationKeys(keys, from);
  let message: openpgp.Message<string>;
  try {
    message = await openpgp.readMessage({ armoredMessage: armoredText.slice(start, end + endMarker.length) });
  } catch {
    return { raw: original, encryption: 'failed', signature: { status: 'none' } };
  }
  // An inline "PGP MESSAGE" can be signed without being encrypted (`gpg --sign`).
  if (kind === 'inline' && message.getEncryptionKeyIDs().length === 0) {
    try {
      const result = await openpgp.verify({ message, verificationKeys: vkeys, format: 'binary', config: PGP_CONFIG });
      if (vkeys.length === 0) return { raw: original, encryption: 'none', signature: { status: 'unknown-key', keyId: result.signatures[0]?.keyID.toHex().toUpperCase() } };
      return { raw: original, encryption: 'none', signature: await signatureResult(result.signatures, vkeys) };
    } catch {
      return { raw: original, encryption: 'none', signature: { status: 'invalid' } };
    }
  }
  try {
    const decryptionKeys = await Promise.all(keys.decryptionKeys.map(toPrivate));
    const result = await openpgp.decrypt({ message, decryptionKeys, verificationKeys: vkeys, format: 'binary', config: PGP_CONFIG });
    plain = result.data;
    sigs = result.signatures;
  } catch {
    return { raw: original, encryption: 'failed', signature: { status: 'none' } };
  }
  let signature = await signatureResult(sigs, vkeys);
  const { other } = partitionContentFields(outerFields);
  if (kind === 'inline') {
    const text = toCRLF(bufferView(plain));
    const head =
      serializeHeader(other) +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n';
    return { raw: Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(encodeQuotedPrintable(text), 'latin1')]), encryption: 'decrypted', signature };
  }
  const inner = toCRLF(bufferView(plain));
  const { header: ih, body: ib } = splitEntity(inner);
  const innerFields = parseHeader(ih).filter((f) => f.key !== 'mime-version');
  const innerCt = parseContentType(headerValue(innerFields, 'content-type'));
  // Protected headers replace their outer (possibly "...") counterparts.
  const isProtected = innerCt.params['protected-headers'] === 'v1';
  const overridden = new Set(isProtected ? innerFields.filter((f) => PROTECTED.includes(f.key)).map((f) => f.key) : []);
  const outerKept = other.filter((f) => !overridden.has(f.key));
  const head = serializeHeader([...outerKept, field('MIME-Version', '1.0'), ...innerFields]) + '\r\n';
  const result = Buffer.concat([Buffer.from(head, 'latin1'), ib]);
  // Signed, then encrypted as two layers (RFC 3156 §6.1): verify the inner multipart/signed.
  if (signature.status === 'none' && innerCt.mime === 'multipart/signed' && innerCt.params.boundary) {
    const parts = splitMultipart(ib, innerCt.params.boundary);
    if (parts.length >= 2) signature = await verifyDetached(parts[0], parts[1], vkeys);
  }
  return { raw: result, encryption: 'decrypted', signature };
}
