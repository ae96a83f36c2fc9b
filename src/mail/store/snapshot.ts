// A snapshot of the in-memory index, persisted in the device-local store so a
// restart reads one blob and replays only the changes made since, instead of
// decrypting every entry document again (goal: index ready < 3 s at 100k).
//
// Format: a local blob of gzipped newline-delimited JSON (streamed both ways,
// never one giant string): a header line, then one line per mailbox slot and
// one per entry. Gzip (level 1) halves what is written (100k messages: ~18
// -> ~8.5 MB), and every byte written through the local store costs several
// times its size in transient memory (sealing, PouchDB, LevelDB), at a time
// when the index is at its largest. The capture compresses as it renders,
// 2000 lines at a time, each piece a gzip member of its own (a gzip stream
// may be several members end to end: RFC 1952 2.2): what waits to be written
// is the compressed bytes, outside the JS heap, not ~16 MB of rendered text
// in it. Version 2 (plain) is still read. A small
// pointer document names the current blob and the feed
// positions (synced store and local store) the snapshot reflects. Replaying
// from those positions is safe even if the snapshot already contains some of
// the later changes: folding a document in twice is a no-op (merge).
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, gzipSync } from 'node:zlib';
import type { DocumentStore } from '../../soledad/types.js';
import type { EntryDoc, MailboxDoc } from './documents.js';
import { randomId } from './ids.js';
import { activeFlags } from './documents.js';
import type { MailIndex } from './mail-index.js';
import { EntryRec } from './index-entry.js';
import { logger } from '../../util/log.js';

const log = logger('mail-snapshot');

const POINTER = { type: 'index-snapshot', id: 'current' };
const EMPTY = Buffer.alloc(0);
const VERSION = 3;
/** Plain NDJSON, written before version 3. */
const PLAIN_VERSION = 2;

export interface SnapshotPointer {
  v: number;
  blob: string;
  /** Position in the synced store's changes feed that the snapshot covers. */
  docsSeq: string | undefined;
  /** Position in the local store's changes feed that the snapshot covers. */
  localSeq: string | undefined;
  entries: number;
}

type SlotLine = ['m', string, MailboxDoc | null, number, number, number];
/**
 * An entry as a flat array (arrays of primitives parse faster and make less
 * garbage than objects): id, uid, modseq, mailbox id, hash, size, internal
 * date, expunged stamp, then (flag, 0|1, stamp) triples.
 */
type EntryLine = [string, number, number, string, string, number, number, string | null, ...Array<string | number>];
interface Header {
  v: number;
  modseq: number;
}

/** The index rendered as gzipped NDJSON, a gzip member per chunk: taken synchronously, so it is one consistent state. */
export interface CapturedSnapshot {
  chunks: Buffer[];
  entries: number;
  docsSeq: string | undefined;
  localSeq: string | undefined;
}

export function captureSnapshot(index: MailIndex, docsSeq: string | undefined, localSeq: string | undefined): CapturedSnapshot {
  const chunks: Buffer[] = [];
  const header: Header = { v: VERSION, modseq: index.modseq };
  let batch: string[] = [JSON.stringify(header)];
  const flush = (): void => {
    chunks.push(gzipSync(batch.join('\n') + '\n', { level: 1 }));
    batch = [];
  };
  for (const s of index.mailboxes.values()) {
    const line: SlotLine = ['m', s.id, s.doc, s.uidValidity, s.uidNext, s.highestModseq];
    batch.push(JSON.stringify(line));
  }
  for (const rec of index.entries.values()) {
    const line: EntryLine = [rec.id, rec.uid, rec.modseq, rec.mailbox, rec.hash, rec.size, rec.internalDate, rec.expunged];
    for (const [f, [on, at]] of Object.entries(rec.flagStates())) line.push(f, on, at);
    batch.push(JSON.stringify(line));
    if (batch.length >= 2000) flush();
  }
  flush();
  return { chunks, entries: index.entries.size, docsSeq, localSeq };
}

/** Writes a captured snapshot as a new blob, points at it, then drops the previous one. */
export async function persistSnapshot(local: DocumentStore, snap: CapturedSnapshot): Promise<void> {
  const previous = await local.get<SnapshotPointer>(POINTER.type, POINTER.id);
  const blob = `index-snapshot-${randomId()}`;
  // Each chunk is dropped once handed to the store, so the captured
  // snapshot shrinks while it is written.
  async function* bytes(): AsyncGenerator<Buffer> {
    for (let i = 0; i < snap.chunks.length; i++) {
      const chunk = snap.chunks[i]!;
      snap.chunks[i] = EMPTY;
      yield chunk;
    }
  }
  await local.putBlob(blob, bytes());
  const pointer: SnapshotPointer = { v: VERSION, blob, docsSeq: snap.docsSeq, localSeq: snap.localSeq, entries: snap.entries };
  await local.put(POINTER.type, POINTER.id, pointer);
  if (previous && previous.blob !== blob) await local.deleteBlob(previous.blob).catch(() => undefined);
}

/** Loads the snapshot into an empty index; returns its pointer, or null when there is none (or it is unreadable). */
export async function readSnapshot(local: DocumentStore, index: MailIndex): Promise<SnapshotPointer | null> {
  const pointer = await local.get<SnapshotPointer>(POINTER.type, POINTER.id);
  if (!pointer || (pointer.v !== VERSION && pointer.v !== PLAIN_VERSION)) return null;
  try {
    let header: Header | null = null;
    await eachLine(pointer.v === PLAIN_VERSION ? local.readBlob(pointer.blob) : gunzipped(local.readBlob(pointer.blob)), (text) => {
      if (!header) {
        header = JSON.parse(text) as Header;
        return;
      }
      const line = JSON.parse(text) as SlotLine | EntryLine;
      if (line[0] === 'm') {
        const [, id, doc, uidValidity, uidNext, highestModseq] = line as SlotLine;
        index.mailboxes.set(id, { id, doc, uidValidity, uidNext, highestModseq, uids: [], byUid: new Map() });
        return;
      }
      const e = line as EntryLine;
      const slot = index.mailboxes.get(e[3]);
      if (!slot) throw new Error('entry of an unknown mailbox');
      const flags: EntryDoc['flags'] = {};
      for (let i = 8; i < e.length; i += 3) flags[e[i] as string] = [e[i + 1] as 0 | 1, e[i + 2] as string];
      const doc: EntryDoc = { v: 1, mailbox: slot.id, hash: e[4], size: e[5], internalDate: e[6], flags, expunged: e[7] };
      const rec = new EntryRec(e[0], doc, activeFlags(doc));
      rec.uid = e[1];
      rec.modseq = e[2];
      index.entries.set(rec.id, rec);
      if (rec.uid > 0 && doc.expunged === null) {
        slot.uids.push(rec.uid);
        slot.byUid.set(rec.uid, rec);
      }
    });
    const head = header as Header | null;
    if (!head) throw new Error('empty snapshot');
    index.modseq = Math.max(index.modseq, head.modseq);
    for (const slot of index.mailboxes.values()) slot.uids.sort((a, b) => a - b);
    return pointer;
  } catch (err) {
    // A damaged snapshot costs a full rebuild, never wrong UIDs.
    log.warn({ err: (err as Error).message }, 'index snapshot unreadable; rebuilding from the store');
    index.mailboxes.clear();
    index.entries.clear();
    return null;
  }
}

function gunzipped(src: Readable): Readable {
  const gunzip = createGunzip();
  src.on('error', (err) => gunzip.destroy(err));
  return src.pipe(gunzip);
}

/** Calls `fn` with each non-empty line of a UTF-8 NDJSON stream (no per-line promise: 100k lines). */
async function eachLine(src: Readable, fn: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of src) {
    const text = rest + decoder.write(chunk as Buffer);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      if (nl > start) fn(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest) fn(rest);
}
