// Building PGP/MIME (RFC 3156): signed (§5) and signed+encrypted (§4, §6.2
// combined) messages, as streams. The message body comes from a re-readable
// source (the gateway's spool), so a 25 MB attachment is never held whole:
// the 7-bit plan, the detached signature and the output each read it once.
import * as openpgp from 'openpgp';
import { parseArmoredKey, PGP_CONFIG } from './keys.js';
import { partitionContentFields, parseHeader, randomBoundary, serializeHeader, splitEntity, toCRLF, type HeaderField } from './mime.js';
import { collect, once, planSevenBit, sevenBitStream, type SevenBitPlan } from './mime-stream.js';

/** A key as armored text or an already parsed OpenPGP.js key. */
export type KeyInput = string | openpgp.Key;

/**
 * A message ready for PGP/MIME: its header fields, its canonical (CRLF) body
 * as a stream that can be opened again for each pass, and the 7-bit plan.
 */
export interface PgpSource {
  fields: HeaderField[];
  body: () => AsyncIterable<Buffer>;
  /** Body size in bytes (about): small messages take OpenPGP.js's faster non-streamed path. */
  size: number;
  plan: SevenBitPlan;
}

/** Headers copied into the encrypted part and restored on opening ("protected headers", draft-autocrypt-lamps-protected-headers). */
export const PROTECTED = ['subject', 'from', 'to', 'cc', 'reply-to', 'date', 'message-id', 'references', 'in-reply-to'];

/** Below this, the whole signed/encrypted part is built in memory: the streaming machinery costs more than it saves. */
const STREAM_ABOVE = 1024 * 1024;

export async function toPrivate(k: KeyInput): Promise<openpgp.PrivateKey> {
  const key = typeof k === 'string' ? await parseArmoredKey(k) : k;
  if (!key.isPrivate()) throw new Error('a private key is required');
  return key as openpgp.PrivateKey;
}

export async function toKey(k: KeyInput): Promise<openpgp.Key> {
  return typeof k === 'string' ? parseArmoredKey(k) : k;
}

export const lf2crlf = (s: string): string => s.replace(/\r?\n/g, '\r\n');

export function field(name: string, value: string): HeaderField {
  return { name, key: name.toLowerCase(), value, raw: `${name}: ${value}\r\n` };
}

/** The content's header fields (Content-*, a default Content-Type), MIME-Version dropped; and the routing ones. */
function contentFields(fields: HeaderField[]): { outer: HeaderField[]; inner: HeaderField[] } {
  const { content, other } = partitionContentFields(fields);
  const inner = content.filter((f) => f.key !== 'mime-version');
  if (!inner.some((f) => f.key === 'content-type')) inner.unshift(field('Content-Type', 'text/plain; charset=us-ascii'));
  return { outer: other, inner };
}

/** Plans the 7-bit re-encoding of a message's content (one pass over the body). */
export async function preparePgpSource(fields: HeaderField[], body: () => AsyncIterable<Buffer>, size: number): Promise<PgpSource> {
  return { fields, body, size, plan: await planSevenBit(contentFields(fields).inner, body()) };
}

/** An in-memory message as a PgpSource. */
export async function bufferSource(raw: Buffer): Promise<PgpSource> {
  const { header, body } = splitEntity(toCRLF(raw));
  return preparePgpSource(parseHeader(header), () => once(body), body.length);
}

function multipartHead(outer: HeaderField[], contentType: string, preamble: string): Buffer {
  return Buffer.from(serializeHeader([...outer, field('MIME-Version', '1.0')]) + `Content-Type: ${contentType}\r\n\r\n${preamble}\r\n`, 'latin1');
}

/** A stream as OpenPGP.js wants it (a web ReadableStream), pulled on demand. */
function webStream(source: AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

async function readAllText(stream: ReadableStream<string> | string): Promise<string> {
  if (typeof stream === 'string') return stream;
  let text = '';
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += value;
  }
}

/** Detached signature over exact bytes; returns the armored signature and its hash name for micalg. */
async function detachedSign(data: AsyncIterable<Buffer>, size: number, signingKey: openpgp.PrivateKey): Promise<{ armored: string; micalg: string }> {
  const binary = size < STREAM_ABOVE ? await collect(data) : webStream(data);
  const signature = await openpgp.sign({ message: await openpgp.createMessage({ binary }), signingKeys: signingKey, detached: true, format: 'armored', config: PGP_CONFIG });
  const armored = await readAllText(signature as unknown as ReadableStream<string> | string);
  const sig = await openpgp.readSignature({ armoredSignature: armored });
  const name = (openpgp.enums.read as (e: object, v: unknown) => string)(openpgp.enums.hash, sig.packets[0].hashAlgorithm);
  return { armored, micalg: `pgp-${name.toLowerCase()}` };
}

/**
 * RFC 3156 §5 multipart/signed. The signed part is the message's content
 * entity, made 7-bit safe and in canonical CRLF form, so no relay needs to
 * touch it; routing headers stay outside. The signature is computed in a
 * first pass over the body, then the message is written in a second.
 */
export async function* signedStream(src: PgpSource, signingKey: KeyInput): AsyncGenerator<Buffer> {
  const { outer, inner } = contentFields(src.fields);
  const entity = (): AsyncIterable<Buffer> => sevenBitStream(inner, src.body(), src.plan);
  const { armored, micalg } = await detachedSign(entity(), src.size, await toPrivate(signingKey));
  const boundary = randomBoundary('sealmail-signed');
  const ct = `multipart/signed; micalg=${micalg};\r\n protocol="application/pgp-signature";\r\n boundary="${boundary}"`;
  yield multipartHead(outer, ct, 'This is an OpenPGP/MIME signed message (RFC 4880 and 3156)');
  yield Buffer.from(`--${boundary}\r\n`);
  yield* entity();
  yield Buffer.from(
    `\r\n--${boundary}\r\n` +
      'Content-Type: application/pgp-signature; name="signature.asc"\r\n' +
      'Content-Description: OpenPGP digital signature\r\n' +
      'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n' +
      lf2crlf(armored).replace(/\r\n$/, '') +
      `\r\n--${boundary}--\r\n`,
    'latin1',
  );
}

export interface EncryptOptions {
  signingKey: KeyInput;
  encryptionKeys: KeyInput[];
  /** Extra fields for the encrypted part only (Autocrypt-Gossip). */
  innerHeaders?: string[];
  protectHeaders?: boolean;
}

/**
 * RFC 3156 §4 multipart/encrypted, signed and encrypted in one OpenPGP
 * message (§6.2). The outer Subject becomes "..." and the real one travels
 * in the encrypted part (protected headers).
 */
export async function* encryptedStream(src: PgpSource, opts: EncryptOptions): AsyncGenerator<Buffer> {
  const { outer, inner } = contentFields(src.fields);
  const protect = opts.protectHeaders !== false;
  const fields: HeaderField[] = inner.map((f) =>
    protect && f.key === 'content-type' ? { ...f, raw: f.raw.replace(/\r\n$/, ';\r\n protected-headers="v1"\r\n') } : f,
  );
  if (protect) fields.push(...outer.filter((f) => PROTECTED.includes(f.key)));
  for (const h of opts.innerHeaders ?? []) fields.push(...parseHeader(h.endsWith('\r\n') ? h : `${h}\r\n`));
  const entity = sevenBitStream(fields, src.body(), src.plan);
  const encryptionKeys = await Promise.all(opts.encryptionKeys.map(toKey));
  const armor = encryptToArmor(entity, src.size, encryptionKeys, await toPrivate(opts.signingKey));
  const outerFields = protect ? outer.map((f) => (f.key === 'subject' ? field('Subject', '...') : f)) : outer;
  const boundary = randomBoundary('sealmail-encrypted');
  const ct = `multipart/encrypted;\r\n protocol="application/pgp-encrypted";\r\n boundary="${boundary}"`;
  yield multipartHead(outerFields, ct, 'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)');
  yield Buffer.from(
    `--${boundary}\r\n` +
      'Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n' +
      `\r\n--${boundary}\r\n` +
      'Content-Type: application/octet-stream; name="encrypted.asc"\r\n' +
      'Content-Description: OpenPGP encrypted message\r\n' +
      'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n',
    'latin1',
  );
  yield* armor;
  yield Buffer.from(`\r\n--${boundary}--\r\n`);
}

/**
 * Encrypts and signs; above STREAM_ABOVE through OpenPGP.js's streaming API,
 * so the armored output arrives in pieces and the input is read as it is
 * needed (the non-streamed API costs ~18x the message in memory). Yields the
 * armor in CRLF form without its final line break (the CRLF before the next
 * delimiter belongs to the delimiter).
 */
async function* encryptToArmor(data: AsyncIterable<Buffer>, size: number, encryptionKeys: openpgp.Key[], signingKey: openpgp.PrivateKey): AsyncGenerator<Buffer> {
  const binary = size < STREAM_ABOVE ? await collect(data) : webStream(data);
  const output = (await openpgp.encrypt({
    message: await openpgp.createMessage({ binary }),
    encryptionKeys,
    signingKeys: signingKey,
    format: 'armored',
    config: PGP_CONFIG,
  })) as unknown as ReadableStream<string> | string;
  if (typeof output === 'string') {
    yield Buffer.from(lf2crlf(output).replace(/\r\n$/, ''), 'latin1');
    return;
  }
  // One chunk of lookahead, to drop the final line break from the last non-empty one.
  let held: Buffer | null = null;
  const reader = output.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!value.length) continue;
    if (held) yield held;
    held = Buffer.from(lf2crlf(value), 'latin1');
  }
  if (held) yield held.subarray(0, held.length - (held.subarray(-2).toString('latin1') === '\r\n' ? 2 : 0));
}

/** buildSigned / buildEncrypted: the same builders for a message in memory. */
export async function buildSigned(raw: Buffer, opts: { signingKey: KeyInput }): Promise<Buffer> {
  return collect(signedStream(await bufferSource(raw), opts.signingKey));
}

export async function buildEncrypted(raw: Buffer, opts: EncryptOptions): Promise<Buffer> {
  return collect(encryptedStream(await bufferSource(raw), opts));
}
