// Builds the data of one FETCH response (RFC 3501 7.4.2) from a message's
// metadata, its pre-rendered structure strings and, for body sections, its
// bytes streamed from the MailStore with exact sizes. Items come in request
// order, UID first in UID FETCH (as Dovecot does).
import { Readable } from 'node:stream';
import type { MailStore, MessageMeta } from '../../mail/mailstore.js';
import { UnknownCteError, decodeBinarySection } from '../../mail/structure/binary.js';
import { findPart, partialRange, readSection, resolveSection, type SectionData } from '../../mail/structure/sections.js';
import { fieldsFromListing, listingRequest, type ListingRequest } from '../../mail/store/summary-cache.js';
import type { MessageStructure } from '../../mail/structure/types.js';
import { ImapError, type ImapResponseCodeName } from '../errors.js';
import { atom, list, literal, num, raw, str, streamed, type ImapValue } from '../response/values.js';
import { isListingFields, isWholeMessage, type FetchItem, type FetchRequest } from './fetch-items.js';
import type { Rendered } from './rendered-cache.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3501 9 date-time, in UTC: "dd-Mon-yyyy hh:mm:ss +0000" (day zero-padded, as Dovecot sends it). */
export function formatInternalDate(time: number): string {
  const d = new Date(time);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export function flagsValue(flags: readonly string[]): ImapValue {
  return list(flags.map((f) => atom(f)));
}

export interface FetchMessage {
  meta: MessageMeta;
  /** ENVELOPE/BODY/BODYSTRUCTURE bytes (when structureNeeds(request) is not 'none'). */
  rendered?: Rendered;
  /** The message's structure document (when structureNeeds(request) is 'tree', or 'listing' without `listing`). */
  structure?: MessageStructure;
  /** The header's listing lines (summary-cache.ts): HEADER.FIELDS of those names without reading the message. */
  listing?: Buffer;
}

export interface FetchResponseOptions {
  /** UID FETCH: UID comes first even if not asked for (RFC 3501 6.4.8). */
  uid: boolean;
  /** Put FLAGS first: \Seen was set implicitly and FLAGS was not requested (RFC 3501 6.4.5). */
  addFlags: boolean;
}

/** The parenthesised data of `* n FETCH (...)`. */
export async function buildFetchData(store: MailStore, request: FetchRequest, msg: FetchMessage, opts: FetchResponseOptions): Promise<ImapValue> {
  const out: ImapValue[] = [];
  const { meta } = msg;
  if (opts.uid) out.push(atom('UID'), num(meta.uid));
  if (opts.addFlags) out.push(atom('FLAGS'), flagsValue(meta.flags));
  for (const item of request.items) {
    if (item.kind === 'simple' && item.name === 'UID' && opts.uid) continue;
    out.push(...(await itemValues(store, item, msg)));
  }
  return list(out);
}

/** Per FETCH item (parsed once per command), whether HEADER.FIELDS can be answered from listing lines. */
const listingItems = new WeakMap<FetchItem, ListingRequest | null>();

function listingOf(item: FetchItem): ListingRequest | null {
  let request = listingItems.get(item);
  if (request === undefined) {
    request = item.kind === 'section' && isListingFields(item) ? listingRequest((item.section.fields ?? []).map((f) => f.toLowerCase())) : null;
    listingItems.set(item, request);
  }
  return request;
}

function needRendered(msg: FetchMessage): Rendered {
  if (!msg.rendered) throw new Error('FETCH item needs the rendered structure strings');
  return msg.rendered;
}

function needStructure(msg: FetchMessage): MessageStructure {
  if (!msg.structure) throw new Error('FETCH item needs the structure document');
  return msg.structure;
}

async function itemValues(store: MailStore, item: FetchItem, msg: FetchMessage): Promise<ImapValue[]> {
  const { meta } = msg;
  if (item.kind === 'simple') {
    switch (item.name) {
      case 'UID':
        return [atom('UID'), num(meta.uid)];
      case 'FLAGS':
        return [atom('FLAGS'), flagsValue(meta.flags)];
      case 'INTERNALDATE':
        return [atom('INTERNALDATE'), str(formatInternalDate(meta.internalDate))];
      case 'RFC822.SIZE':
        return [atom('RFC822.SIZE'), num(meta.size)];
      case 'MODSEQ':
        return [atom('MODSEQ'), list([num(meta.modseq)])];
      case 'ENVELOPE':
        return [atom('ENVELOPE'), raw(needRendered(msg).envelope)];
      case 'BODY':
        return [atom('BODY'), raw(needRendered(msg).body)];
      case 'BODYSTRUCTURE':
        return [atom('BODYSTRUCTURE'), raw(needRendered(msg).bodystructure)];
    }
  }
  const read = (start: number, end: number): Readable => store.read(meta.hash, start, end);
  if (isWholeMessage(item) && item.kind === 'section') {
    // The whole message: its size is known without the structure document.
    return [atom(item.partial ? `${item.label}<${item.partial.start}>` : item.label), await literalValue(await readSection(read, { kind: 'range', start: 0, end: meta.size }, item.partial), false)];
  }
  const kept = msg.listing && listingOf(item);
  if (kept && item.kind === 'section') {
    const fields = fieldsFromListing(msg.listing!, kept);
    if (fields) {
      const { from, to } = partialRange(fields.length, item.partial);
      return [atom(item.partial ? `${item.label}<${item.partial.start}>` : item.label), literal(fields.subarray(from, to))];
    }
  }
  const structure = needStructure(msg);
  if (item.kind === 'binary.size') {
    return [atom(item.label), num(await binarySize(read, structure, item.part))];
  }
  const label = item.partial ? `${item.label}<${item.partial.start}>` : item.label;
  if (item.binary) {
    const data = await binarySection(read, structure, item.section.part, item.partial);
    return [atom(label), await literalValue(data, binaryIsRaw(structure, item.section.part))];
  }
  const { part, text, fields } = item.section;
  const plan = resolveSection(structure, { path: part, part: text ?? undefined, fields });
  return [atom(label), await literalValue(await readSection(read, plan, item.partial), false)];
}

/**
 * Sections up to this size are read while the response is built (FETCH builds
 * several messages ahead), so the store's per-read latency overlaps; bigger
 * ones are streamed when the writer gets to them, never held in memory.
 */
const INLINE_MAX = 256 * 1024;

/**
 * A section as a literal of its exact size. `mayHoldNul`: BINARY content that
 * may contain NUL must go as literal8 ~{n} (RFC 3516 4.3); when the bytes are
 * in hand we look, so a decoded text part still goes as a plain literal.
 */
async function literalValue(data: SectionData, mayHoldNul: boolean): Promise<ImapValue> {
  if (data.size === 0) {
    data.stream.destroy();
    return literal(Buffer.alloc(0));
  }
  if (data.size > INLINE_MAX) {
    // The first bytes are read before the literal is announced: content that
    // is not on this device (MailStoreError NONEXISTENT) then gets a tagged NO
    // like a small section does, instead of a literal cut short and a dropped
    // connection. The rest streams when the writer gets to it.
    const rest = data.stream[Symbol.asyncIterator]();
    const first = await rest.next();
    async function* whole(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield first.value as Buffer;
      for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value as Buffer;
    }
    return streamed(data.size, () => Readable.from(whole(), { objectMode: false }), mayHoldNul);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of data.stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== data.size) throw new Error(`section is ${bytes.length} bytes, expected ${data.size}`);
  return mayHoldNul && bytes.includes(0) ? streamed(bytes.length, () => Readable.from([bytes]), true) : literal(bytes);
}

/** Will BINARY[part] send bytes that may contain NUL (a decoded leaf, or a "binary" one)? */
function binaryIsRaw(structure: MessageStructure, part: number[]): boolean {
  if (part.length === 0) return false;
  const node = findPart(structure.root, part);
  if (!node || node.children || node.message) return false;
  return ['base64', 'quoted-printable', 'binary'].includes(node.encoding.toLowerCase());
}

async function binarySection(
  read: (start: number, end: number) => Readable,
  structure: MessageStructure,
  part: number[],
  partial: { start: number; length: number } | undefined,
): Promise<SectionData> {
  try {
    return await decodeBinarySection(read, structure, part, partial);
  } catch (err) {
    // RFC 3516 4.3: a transfer encoding we cannot undo.
    if (err instanceof UnknownCteError) throw new ImapError('NO', `Unknown Content-Transfer-Encoding: ${err.encoding}`, 'UNKNOWN-CTE' as ImapResponseCodeName);
    throw err;
  }
}

async function binarySize(read: (start: number, end: number) => Readable, structure: MessageStructure, part: number[]): Promise<number> {
  const data = await binarySection(read, structure, part, undefined);
  data.stream.destroy();
  return data.size;
}
