// PGP/MIME (RFC 3156): build signed (§5) and signed+encrypted (§4, §6.2
// combined) messages from a raw RFC 5322 message, and open what arrives
// (PGP/MIME encrypted, PGP/MIME signed, inline PGP).
import * as openpgp from 'openpgp';
import { parseArmoredKey as parseCached, PGP_CONFIG } from './keys.js';
import {
  encodeQuotedPrintable,
  headerValue,
  make7bitSafe,
  parseContentType,
  parseHeader,
  partitionContentFields,
  randomBoundary,
  serializeHeader,
  splitEntity,
  splitMultipart,
  toCRLF,
  type HeaderField,
} from './mime.js';

/** A key as armored text or an already parsed OpenPGP.js key. */
export type KeyInput = string | openpgp.Key;

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

/** Headers copied into the encrypted part and restored on opening ("protected headers", draft-autocrypt-lamps-protected-headers). */
const PROTECTED = ['subject', 'from', 'to', 'cc', 'reply-to', 'date', 'message-id', 'references', 'in-reply-to'];

async function toPrivate(k: KeyInput): Promise<openpgp.PrivateKey> {
  const key = typeof k === 'string' ? await parseCached(k) : k;
  if (!key.isPrivate()) throw new Error('a private key is required');
  return key as openpgp.PrivateKey;
}

async function toKey(k: KeyInput): Promise<openpgp.Key> {
  return typeof k === 'string' ? parseCached(k) : k;
}

const lf2crlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');

/** Splits a canonical message into routing headers, the content's header fields, and the body. */
function contentParts(raw: Buffer): { outer: HeaderField[]; innerFields: HeaderField[]; body: Buffer } {
  const { header, body } = splitEntity(raw);
  const { content, other } = partitionContentFields(parseHeader(header));
  const innerFields = content.filter((f) => f.key !== 'mime-version');
  if (!innerFields.some((f) => f.key === 'content-type')) {
    innerFields.unshift(field('Content-Type', 'text/plain; charset=us-ascii'));
  }
  return { outer: other, innerFields, body };
}

function field(name: string, value: string): HeaderField {
  return { name, key: name.toLowerCase(), value, raw: `${name}: ${value}\r\n` };
}

function assemble(outer: HeaderField[], contentType: string, parts: Array<Buffer | Buffer[]>, boundary: string, preamble: string): Buffer {
  const head = serializeHeader([...outer, field('MIME-Version', '1.0')]) + `Content-Type: ${contentType}\r\n\r\n${preamble}\r\n`;
  const chunks: Buffer[] = [Buffer.from(head, 'latin1')];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\n`), ...(Array.isArray(p) ? p : [p]), Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** Detached signature over exact bytes; returns the armored signature and its hash name for micalg. */
async function detachedSign(data: Buffer, signingKey: openpgp.PrivateKey): Promise<{ armored: string; micalg: string }> {
  const armored = await openpgp.sign({
    message: await openpgp.createMessage({ binary: data }),
    signingKeys: signingKey,
    detached: true,
    format: 'armored',
    config: PGP_CONFIG,
  });
  const sig = await openpgp.readSignature({ armoredSignature: armored });
  const hashId = sig.packets[0].hashAlgorithm;
  const name = (openpgp.enums.read as (e: object, v: unknown) => string)(openpgp.enums.hash, hashId);
  const micalg = `pgp-${name.toLowerCase()}`;
  return { armored, micalg };
}

/**
 * RFC 3156 §5 multipart/signed. The signed part is the message's content
 * entity, made 7-bit safe and in canonical CRLF form, so no relay needs to
 * touch it; routing headers stay outside.
 */
export async function buildSigned(raw: Buffer, opts: { signingKey: KeyInput }): Promise<Buffer> {
  const { outer, innerFields, body } = contentParts(toCRLF(raw));
  const signed = make7bitSafe(Buffer.concat([Buffer.from(serializeHeader(innerFields) + '\r\n', 'latin1'), body]));
  const { armored, micalg } = await detachedSign(signed, await toPrivate(opts.signingKey));
  const boundary = randomBoundary('sealmail-signed');
  const sigPart = Buffer.from(
    'Content-Type: application/pgp-signature; name="signature.asc"\r\n' +
      'Content-Description: OpenPGP digital signature\r\n' +
      'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n' +
      lf2crlf(armored).replace(/\r\n$/, ''),
    'latin1',
  );
  const ct = `multipart/signed; micalg=${micalg};\r\n protocol="application/pgp-signature";\r\n boundary="${boundary}"`;
  return assemble(outer, ct, [signed, sigPart], boundary, 'This is an OpenPGP/MIME signed message (RFC 4880 and 3156)');
}

/**
 * RFC 3156 §4 multipart/encrypted, signed and encrypted in one OpenPGP
 * message (§6.2). The outer Subject becomes "..." and the real one travels
 * in the encrypted part (protected headers). `innerHeaders` are extra fields
 * for the encrypted part only (Autocrypt-Gossip).
 */
export async function buildEncrypted(
  raw: Buffer,
  opts: { signingKey: KeyInput; encryptionKeys: KeyInput[]; innerHeaders?: string[]; protectHeaders?: boolean },
): Promise<Buffer> {
  const { outer, innerFields, body } = contentParts(toCRLF(raw));
  const protect = opts.protectHeaders !== false;
  const fields: HeaderField[] = [];
  for (const f of innerFields) {
    if (protect && f.key === 'content-type') {
      fields.push({ ...f, raw: f.raw.replace(/\r\n$/, ';\r\n protected-headers="v1"\r\n') });
    } else fields.push(f);
  }
  if (protect) fields.push(...outer.filter((f) => PROTECTED.includes(f.key)));
  let innerHead = serializeHeader(fields);
  for (const h of opts.innerHeaders ?? []) innerHead += h.endsWith('\r\n') ? h : `${h}\r\n`;
  const inner = make7bitSafe(Buffer.concat([Buffer.from(innerHead + '\r\n', 'latin1'), body]));

  const armored = await encryptToArmorChunks(inner, await Promise.all(opts.encryptionKeys.map(toKey)), await toPrivate(opts.signingKey));
  const outerFields = protect ? outer.map((f) => (f.key === 'subject' ? field('Subject', '...') : f)) : outer;
  const boundary = randomBoundary('sealmail-encrypted');
  const versionPart = Buffer.from(
    'Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n',
    'latin1',
  );
  const dataPart = [
    Buffer.from(
      'Content-Type: application/octet-stream; name="encrypted.asc"\r\n' +
        'Content-Description: OpenPGP encrypted message\r\n' +
        'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n',
      'latin1',
    ),
    ...armored,
  ];
  const ct = `multipart/encrypted;\r\n protocol="application/pgp-encrypted";\r\n boundary="${boundary}"`;
  return assemble(outerFields, ct, [versionPart, dataPart], boundary, 'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)');
}

const STREAM_ABOVE = 1024 * 1024;

/**
 * Encrypts and signs through OpenPGP.js's streaming API, fed in 64 KB slices:
 * the armored output arrives in pieces, so a 25 MB message is never turned
 * into one giant string (the non-streamed API costs ~18x the message in memory).
 * Returns the armor in CRLF form without its final line break.
 */
async function encryptToArmorChunks(data: Buffer, encryptionKeys: openpgp.Key[], signingKey: openpgp.PrivateKey): Promise<Buffer[]> {
  if (data.length < STREAM_ABOVE) {
    // Small messages: the streaming machinery costs more than it saves.
    const armored = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: data }), encryptionKeys, signingKeys: signingKey, format: 'armored', config: PGP_CONFIG });
    return [Buffer.from(lf2crlf(armored).replace(/\r\n$/, ''), 'latin1')];
  }
  const SLICE = 64 * 1024;
  let offset = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.subarray(offset, offset + SLICE));
      offset += SLICE;
    },
  });
  const output = (await openpgp.encrypt({
    message: await openpgp.createMessage({ binary: input }),
    encryptionKeys,
    signingKeys: signingKey,
    format: 'armored',
    config: PGP_CONFIG,
  })) as unknown as ReadableStream<string>;
  const chunks: Buffer[] = [];
  const reader = output.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value.length) chunks.push(Buffer.from(lf2crlf(value), 'latin1'));
  }
  // Drop the armor's final line break: the CRLF before the next delimiter belongs to the delimiter.
  for (let i = chunks.length - 1; i >= 0; i--) {
    const c = chunks[i];
    if (c.length >= 2 && c[c.length - 2] === 0x0d && c[c.length - 1] === 0x0a) chunks[i] = c.subarray(0, c.length - 2);
    if (chunks[i].length > 0) break;
  }
  return chunks;
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
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: sigText });
  } catch {
    return { status: 'invalid' };
  }
  const message = await openpgp.createMessage({ binary: signed });
  if (keys.length === 0) {
    return { status: 'unknown-key', keyId: signature.getSigningKeyIDs()[0]?.toHex().toUpperCase() };
  }
  const result = await openpgp.verify({ message, signature, verificationKeys: keys, format: 'binary', config: PGP_CONFIG });
  return signatureResult(result.signatures, keys);
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
    const text = toCRLF(Buffer.from(plain));
    const head =
      serializeHeader(other) +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n';
    return { raw: Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(encodeQuotedPrintable(text), 'latin1')]), encryption: 'decrypted', signature };
  }
  const inner = toCRLF(Buffer.from(plain));
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
