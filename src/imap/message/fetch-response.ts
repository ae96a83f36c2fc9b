// Builds the data of one FETCH response (RFC 3501 7.4.2) from a message's
// metadata, its pre-rendered structure strings and, for body sections, its
// bytes streamed from the MailStore with exact sizes. Items come in request
// order, UID first in UID FETCH (as Dovecot does).
import { Readable } from 'node:stream';
import type { MailStore, MessageMeta } from '../../mail/mailstore.js';
import type { MessageStructure, PartNode } from '../../mail/structure/types.js';
import { ImapError, type ImapResponseCodeName } from '../errors.js';
import { atom, list, literal, num, raw, str, streamed, type ImapValue } from '../response/values.js';
import type { FetchItem, FetchRequest } from './fetch-items.js';
import { filterHeaderFields, findPart, resolveSection } from './fetch-sections.js';
import { decodeTransfer, isKnownEncoding, readAll } from './transfer-decode.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3501 9 date-time, in UTC: "dd-Mon-yyyy hh:mm:ss +0000" (day space-padded). */
export function formatInternalDate(time: number): string {
  const d = new Date(time);
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getUTCDate()).padStart(2, ' ');
  return `${day}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export function flagsValue(flags: readonly string[]): ImapValue {
  return list(flags.map((f) => atom(f)));
}

export interface FetchMessage {
  meta: MessageMeta;
  /** The message's structure document (when needsStructure(request)). */
  structure?: MessageStructure;
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
        return [atom('ENVELOPE'), raw(needStructure(msg).imap.envelope)];
      case 'BODY':
        return [atom('BODY'), raw(needStructure(msg).imap.body)];
      case 'BODYSTRUCTURE':
        return [atom('BODYSTRUCTURE'), raw(needStructure(msg).imap.bodystructure)];
    }
  }
  const root = needStructure(msg).root;
  if (item.kind === 'binary.size') {
    return [atom(item.label), num(await binarySize(store, meta.hash, root, item.part))];
  }
  const label = item.partial ? `${item.label}<${item.partial.start}>` : item.label;
  return [atom(label), await sectionValue(store, meta.hash, root, item)];
}

/** The byte window [start, end) after applying a <partial> (RFC 3501 6.4.5). */
function window(start: number, end: number, partial: { start: number; length: number } | undefined): [number, number] {
  if (!partial) return [start, end];
  const s = Math.min(start + partial.start, end);
  return [s, Math.min(s + partial.length, end)];
}

function sliceBuffer(buf: Buffer, partial: { start: number; length: number } | undefined): Buffer {
  const [s, e] = window(0, buf.length, partial);
  return buf.subarray(s, e);
}

async function sectionValue(store: MailStore, hash: string, root: PartNode, item: Extract<FetchItem, { kind: 'section' }>): Promise<ImapValue> {
  const source = resolveSection(root, item.section);
  if (source.kind === 'empty') return literal(Buffer.alloc(0));
  if (source.kind === 'fields') {
    const header = await readAll(store.read(hash, source.start, source.end));
    return literal(sliceBuffer(filterHeaderFields(header, source.fields, source.not), item.partial));
  }
  if (item.binary && source.node && !source.node.children) {
    const decoded = await decodedBody(store, hash, source.node);
    const bytes = sliceBuffer(decoded, item.partial);
    // RFC 3516 4.3: literal8 (~{n}) only when the data contains NUL.
    return streamed(bytes.length, () => Readable.from([bytes]), bytes.includes(0));
  }
  const [s, e] = window(source.start, source.end, item.partial);
  if (e <= s) return literal(Buffer.alloc(0));
  return streamed(e - s, () => store.read(hash, s, e));
}

async function decodedBody(store: MailStore, hash: string, node: PartNode): Promise<Buffer> {
  if (!isKnownEncoding(node.encoding)) {
    // RFC 3516 4.3: a transfer encoding we cannot undo.
    throw new ImapError('NO', `Unknown Content-Transfer-Encoding: ${node.encoding}`, 'UNKNOWN-CTE' as ImapResponseCodeName);
  }
  return decodeTransfer(await readAll(store.read(hash, node.bodyStart, node.bodyEnd)), node.encoding);
}

async function binarySize(store: MailStore, hash: string, root: PartNode, part: number[]): Promise<number> {
  if (part.length === 0) return root.bodyEnd - root.headerStart;
  const node = findPart(root, part);
  if (!node) return 0; // like Dovecot: a part that does not exist is empty
  if (node.children) return node.bodyEnd - node.bodyStart;
  const enc = node.encoding.toLowerCase();
  if (enc === 'base64' || enc === 'quoted-printable' || !isKnownEncoding(enc)) return (await decodedBody(store, hash, node)).length;
  return node.bodyEnd - node.bodyStart;
}
