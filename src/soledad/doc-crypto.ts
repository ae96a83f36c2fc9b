// Per-document encryption (DESIGN.md "Soledad"). What the server stores for a
// document is { _id: HMAC(idKey, type \0 id) as hex, v, n: nonce, c: AES-256-GCM
// ciphertext+tag }: the type and logical id live only inside the ciphertext.
// The associated data binds the scheme version, the namespace and the stored
// id, so a flipped bit or a ciphertext copied to another id fails to
// authenticate (DocumentIntegrityError) instead of decrypting to garbage.
// Plaintexts are padded to size buckets so exact sizes do not leak.
import crypto from 'node:crypto';
import { DocumentIntegrityError } from './errors.js';
import type { DerivedKeys } from './secrets.js';

export const SCHEME_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const LEN_BYTES = 4;
const MIN_BUCKET = 64;
const LARGE_STEP = 64 * 1024;

/** The encrypted fields of a stored document (besides _id/_rev/_deleted). */
export interface SealedFields {
  v: number;
  /** Nonce, base64. */
  n: string;
  /** Ciphertext followed by the GCM tag, base64. */
  c: string;
}

export interface OpenedDoc {
  type: string;
  id: string;
  /** null for a deletion tombstone. */
  content: unknown;
}

/** Padded size for a plaintext of n bytes: powers of two up to 64 KiB, then multiples of 64 KiB. */
export function bucketSize(n: number): number {
  if (n <= LARGE_STEP) {
    let b = MIN_BUCKET;
    while (b < n) b *= 2;
    return b;
  }
  return Math.ceil(n / LARGE_STEP) * LARGE_STEP;
}

/** [u32 big-endian length][data][zeros] up to the bucket size. */
export function pad(data: Buffer | string): Buffer {
  const len = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const out = Buffer.alloc(bucketSize(len + LEN_BYTES));
  out.writeUInt32BE(len, 0);
  if (typeof data === 'string') out.write(data, LEN_BYTES, 'utf8');
  else data.copy(out, LEN_BYTES);
  return out;
}

export function unpad(padded: Buffer, docId: string): Buffer {
  const len = padded.length >= LEN_BYTES ? padded.readUInt32BE(0) : -1;
  if (len < 0 || len > padded.length - LEN_BYTES) throw new DocumentIntegrityError(docId, 'bad padding');
  return padded.subarray(LEN_BYTES, LEN_BYTES + len);
}

/**
 * Stored ids already computed, per key set: the same few are asked for again
 * and again (the own-key and keyring docs on every incoming message, a new
 * document's id when it is written and again when the changes feed checks
 * it), and an HMAC costs a few microseconds. Bounded; oldest dropped first.
 */
const idMemo = new WeakMap<DerivedKeys, { key: crypto.KeyObject; ids: Map<string, string> }>();
const ID_MEMO_MAX = 4096;

/** The stored id of a logical document: hex HMAC-SHA256(idKey, type \0 id). */
export function docIdFor(keys: DerivedKeys, type: string, id: string): string {
  let memo = idMemo.get(keys);
  if (!memo) idMemo.set(keys, (memo = { key: crypto.createSecretKey(keys.idKey), ids: new Map() }));
  const logical = `${type}\u0000${id}`;
  let stored = memo.ids.get(logical);
  if (stored === undefined) {
    stored = crypto.createHmac('sha256', memo.key).update(logical).digest('hex');
    if (memo.ids.size >= ID_MEMO_MAX) memo.ids.delete(memo.ids.keys().next().value as string);
    memo.ids.set(logical, stored);
  }
  return stored;
}

/** Zero bytes to pad from: a padding is always shorter than LARGE_STEP (see bucketSize). */
const ZEROS = Buffer.alloc(LARGE_STEP);

/**
 * AES-256-GCM of pad(data), fed to the cipher in pieces (length, data,
 * zeros) so the padded plaintext is never built: the same ciphertext as
 * encrypting pad(data) in one go, one copy of the data less.
 */
function sealPadded(key: Buffer, aad: Buffer, data: Buffer): { iv: Buffer; body: Buffer[] } {
  const padding = bucketSize(data.length + LEN_BYTES) - LEN_BYTES - data.length;
  const length = Buffer.allocUnsafe(LEN_BYTES);
  length.writeUInt32BE(data.length, 0);
  const iv = crypto.randomBytes(IV_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = [cipher.update(length), cipher.update(data), cipher.update(padding <= ZEROS.length ? ZEROS.subarray(0, padding) : Buffer.alloc(padding))];
  body.push(cipher.final(), cipher.getAuthTag());
  return { iv, body };
}

function seal(key: Buffer, aad: Buffer, data: Buffer): Buffer {
  const { iv, body } = sealPadded(key, aad, data);
  return Buffer.concat([iv, ...body]);
}

function unseal(key: Buffer, aad: Buffer, sealed: Buffer, docId: string, iv = sealed.subarray(0, IV_BYTES), body = sealed.subarray(IV_BYTES)): Buffer {
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new DocumentIntegrityError(docId, 'truncated');
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plain = decipher.update(body.subarray(0, body.length - TAG_BYTES));
    decipher.final(); // GCM yields no further bytes here; final() checks the tag
    return plain;
  } catch {
    throw new DocumentIntegrityError(docId);
  }
}

const docAad = (ns: string, docId: string): Buffer => Buffer.from(`soledad:v${SCHEME_VERSION}:${ns}:${docId}`);

/** Encrypts one document for the given stored id. `content` null marks a deletion. */
export function sealDoc(keys: DerivedKeys, ns: string, docId: string, doc: OpenedDoc): SealedFields {
  const json = Buffer.from(JSON.stringify({ t: doc.type, i: doc.id, c: doc.content }));
  const { iv, body } = sealPadded(keys.docKey, docAad(ns, docId), json);
  return { v: SCHEME_VERSION, n: iv.toString('base64'), c: Buffer.concat(body).toString('base64') };
}

export function isSealed(doc: unknown): doc is SealedFields & { _id: string } {
  const d = doc as SealedFields;
  return !!d && typeof d.n === 'string' && typeof d.c === 'string' && typeof d.v === 'number';
}

/** Decrypts and authenticates a stored document; throws DocumentIntegrityError naming docId. */
export function openDoc(keys: DerivedKeys, ns: string, docId: string, fields: SealedFields): OpenedDoc {
  return openDocOf(keys, ns, docId, fields, null)!;
}

/** The plaintext prefix of a document of each type: sealDoc writes {"t":<type>,... first. */
const typePrefixes = new Map<string, Buffer>();
function typePrefix(type: string): Buffer {
  let p = typePrefixes.get(type);
  if (!p) {
    p = Buffer.from(`{"t":${JSON.stringify(type)},`);
    if (typePrefixes.size < 1000) typePrefixes.set(type, p);
  }
  return p;
}

/**
 * Like openDoc, but returns null, after authenticating and before parsing,
 * when the document is not of one of `types` (null = any type): a reader that
 * wants entries need not parse every structure document's JSON.
 */
export function openDocOf(keys: DerivedKeys, ns: string, docId: string, fields: SealedFields, types: readonly string[] | null): OpenedDoc | null {
  if (fields.v !== SCHEME_VERSION) throw new DocumentIntegrityError(docId, `unknown scheme version ${fields.v}`);
  const iv = Buffer.from(fields.n, 'base64');
  const body = Buffer.from(fields.c, 'base64');
  const plain = unpad(unseal(keys.docKey, docAad(ns, docId), body, docId, iv, body), docId);
  if (types && !types.some((t) => { const p = typePrefix(t); return plain.length > p.length && plain.subarray(0, p.length).equals(p); })) return null;
  let parsed: { t: unknown; i: unknown; c: unknown };
  try {
    parsed = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new DocumentIntegrityError(docId, 'not JSON');
  }
  if (typeof parsed.t !== 'string' || typeof parsed.i !== 'string' || docIdFor(keys, parsed.t, parsed.i) !== docId) {
    throw new DocumentIntegrityError(docId, 'logical id does not match the stored id');
  }
  return { type: parsed.t, id: parsed.i, content: parsed.c ?? null };
}

// --- blob chunks -------------------------------------------------------------

/**
 * Plain bytes per chunk of a new blob: with the length prefix a full chunk
 * pads to exactly 128 KiB (bucketSize). Each chunk past the first is a
 * document, and a document costs the same whatever its size (a revision
 * tree, an attachment digest, a replication round trip): with 32 KiB chunks
 * a mean ~110 KB message was ~3.4 chunk documents, with 128 KiB under one
 * (BENCHMARKS.md, fetch ingest). A range read decrypts whole chunks, which
 * at 128 KiB is still a fraction of a millisecond.
 */
export const CHUNK_DATA_BYTES = 128 * 1024 - LEN_BYTES;
/** The chunk size of blobs written before (32 KiB padded). Each blob's head records its own, so they read as before. */
export const OLD_CHUNK_DATA_BYTES = 32 * 1024 - LEN_BYTES;

/**
 * What a chunk's ciphertext is bound to: the blob's stored id, the write it
 * belongs to, its index and whether it is the last one. A blob is written as
 * a stream, so the chunk count is not known up front; the "last" flag plus the
 * count in the blob's (sealed) metadata detect truncation, the index detects
 * reordering, the write id detects mixing chunks of two writes.
 */
export interface ChunkBinding {
  blobDocId: string;
  writeId: string;
  index: number;
  last: boolean;
}

const chunkAad = (ns: string, b: ChunkBinding): Buffer =>
  Buffer.from(`soledad-blob:v${SCHEME_VERSION}:${ns}:${b.blobDocId}:${b.writeId}:${b.index}:${b.last ? 'last' : 'more'}`);

/** nonce || ciphertext || tag of one padded chunk. */
export function sealChunk(keys: DerivedKeys, ns: string, binding: ChunkBinding, data: Buffer): Buffer {
  return seal(keys.docKey, chunkAad(ns, binding), data);
}

export function openChunk(keys: DerivedKeys, ns: string, binding: ChunkBinding, sealed: Buffer): Buffer {
  const what = `${binding.blobDocId}#${binding.index}`;
  return unpad(unseal(keys.docKey, chunkAad(ns, binding), sealed, what), what);
}
