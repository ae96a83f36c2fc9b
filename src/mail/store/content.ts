// Storing a message's content: the exact bytes as a content-addressed blob
// with its structure kept in the blob's metadata (Soledad puts that in the
// blob's head document, with the first chunk: a small message is one
// document besides its entry, which a new device replicates in one go),
// written once however many mailboxes or deliveries refer to it. A streamed
// source is hashed as it passes; small ones are kept in memory, larger ones
// are spooled into a temporary blob of the (encrypted) store, analyzed there
// and then moved under their hash, so a 25 MB message is never held in memory.
//
// Stores written before kept the structure in a document of its own (type
// `structure`, id = hash); it is still read, and a structure recomputed by a
// newer analyzer is written there too (the blob itself is immutable).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { DocumentStore } from '../../soledad/types.js';
import type { MessageStructure } from '../structure/types.js';
import { DOC } from './documents.js';
import { spoolBlobId } from './ids.js';
import { fallbackStructure } from './fallback-structure.js';
import { contentNeededAgain } from './blob-gc-docs.js';
import { logger } from '../../util/log.js';

const log = logger('mail-content');

export interface Analyzer {
  analyzeMessage(raw: Buffer): MessageStructure;
  analyzeStream(src: Readable): Promise<MessageStructure>;
  /** Version of the structures it derives: older stored ones are recomputed when read. */
  version?: number;
}

export interface StoredContent {
  hash: string;
  size: number;
  /** The structure, when this call derived it (the content was new here). */
  structure?: MessageStructure;
}

/** Sources up to this size are hashed and analyzed in memory. */
const IN_MEMORY_LIMIT = 1 << 20;

export async function storeContent(
  docs: DocumentStore,
  analyzer: Analyzer,
  source: AsyncIterable<Buffer> | Buffer,
): Promise<StoredContent> {
  if (Buffer.isBuffer(source)) return storeBuffer(docs, analyzer, source);
  const hasher = createHash('sha256');
  const head: Buffer[] = [];
  let size = 0;
  const it = source[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) return storeBuffer(docs, analyzer, Buffer.concat(head, size));
    const chunk = Buffer.from(r.value);
    hasher.update(chunk);
    head.push(chunk);
    size += chunk.length;
    if (size > IN_MEMORY_LIMIT) break;
  }
  // Large: spool what we have plus the rest of the source, hashing the rest on the way.
  const spool = spoolBlobId();
  async function* rest(): AsyncGenerator<Buffer> {
    yield* head.splice(0);
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      const chunk = Buffer.from(r.value);
      hasher.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  try {
    await docs.putBlob(spool, rest());
    const hash = hasher.digest('hex');
    let structure: MessageStructure | null = null;
    await once(hash, async () => {
      if (!(await contentNeededAgain(docs, hash)) && (await docs.hasBlob(hash))) {
        structure = await ensureStructure(docs, hash, () => analyzer.analyzeStream(docs.readBlob(hash)), size);
        return;
      }
      const derived = await analyzeSafely(() => analyzer.analyzeStream(docs.readBlob(spool)), size, hash);
      await docs.putBlob(hash, docs.readBlob(spool), { meta: contentMeta(derived) });
      structure = derived;
    });
    return { hash, size, structure: structure ?? undefined };
  } finally {
    await docs.deleteBlob(spool).catch(() => undefined);
  }
}

/**
 * Per content hash, the store in progress: the same bytes stored twice at
 * once are written once. Blob garbage collection deletes under it too.
 */
const inFlight = new Map<string, Promise<unknown>>();

export { once as withContentLock };

async function once<T>(hash: string, fn: () => Promise<T>): Promise<T> {
  for (let busy = inFlight.get(hash); busy; busy = inFlight.get(hash)) await busy.catch(() => undefined);
  const run = fn();
  inFlight.set(hash, run);
  try {
    return await run;
  } finally {
    inFlight.delete(hash);
  }
}

async function storeBuffer(docs: DocumentStore, analyzer: Analyzer, raw: Buffer): Promise<StoredContent> {
  const hash = createHash('sha256').update(raw).digest('hex');
  const structure = await once(hash, () => writeBuffer(docs, analyzer, raw, hash));
  return { hash, size: raw.length, structure: structure ?? undefined };
}

async function writeBuffer(docs: DocumentStore, analyzer: Analyzer, raw: Buffer, hash: string): Promise<MessageStructure | null> {
  // A blob being garbage-collected is written again (blob-gc-docs.ts), not reused.
  if (!(await contentNeededAgain(docs, hash)) && (await docs.hasBlob(hash))) {
    return ensureStructure(docs, hash, async () => analyzer.analyzeMessage(raw), raw.length);
  }
  const structure = await analyzeSafely(async () => analyzer.analyzeMessage(raw), raw.length, hash);
  await docs.putBlob(hash, raw, { meta: contentMeta(structure) });
  return structure;
}

/** What a message's blob carries besides its bytes. */
interface ContentMeta {
  structure: MessageStructure;
}

function contentMeta(structure: MessageStructure): ContentMeta {
  return { structure };
}

/** Bad input never fails a store: the fallback is a flat text body. */
async function analyzeSafely(analyze: () => Promise<MessageStructure>, size: number, hash: string): Promise<MessageStructure> {
  try {
    return await analyze();
  } catch (err) {
    log.warn({ hash, size, err: (err as Error).message }, 'MIME analysis failed; storing a flat structure');
    return fallbackStructure(size);
  }
}

/**
 * The stored structure of a message: the one in its blob's metadata, or the
 * separate document (stores written before; an upgrade by a newer analyzer),
 * whichever is newer. Reads the separate document only when the blob's is
 * missing or older than `wanted` (the analyzer's version). Null: none.
 */
export async function readStructure(docs: DocumentStore, hash: string, wanted?: number): Promise<MessageStructure | null> {
  const inline = (await docs.blobMeta<Partial<ContentMeta>>(hash))?.structure ?? null;
  if (inline && (wanted === undefined || inline.v >= wanted)) return inline;
  const separate = await docs.get<MessageStructure>(DOC.structure, hash);
  if (!separate || (inline && inline.v > separate.v)) return inline;
  return separate;
}

/** For content already stored: writes a structure document unless one is stored (then returns null). */
async function ensureStructure(
  docs: DocumentStore,
  hash: string,
  analyze: () => Promise<MessageStructure>,
  size: number,
): Promise<MessageStructure | null> {
  if (await readStructure(docs, hash)) return null;
  const structure = await analyzeSafely(analyze, size, hash);
  await docs.put(DOC.structure, hash, structure);
  return structure;
}

/**
 * A stored structure older than the analyzer's version (or the fallback, v0)
 * is derived again from the blob and stored as the separate structure
 * document (readStructure takes the newer one). Keeps the old one if that fails.
 */
export async function upgradeStructure(
  docs: DocumentStore,
  analyzer: Analyzer,
  hash: string,
  stored: MessageStructure,
): Promise<MessageStructure> {
  if (analyzer.version === undefined || stored.v >= analyzer.version) return stored;
  try {
    const fresh = await analyzer.analyzeStream(docs.readBlob(hash));
    await docs.put(DOC.structure, hash, fresh);
    log.info({ hash, from: stored.v, to: fresh.v }, 'structure recomputed');
    return fresh;
  } catch (err) {
    log.warn({ hash, err: (err as Error).message }, 'structure upgrade failed; keeping the stored one');
    return stored;
  }
}
