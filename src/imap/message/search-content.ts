// The message content SEARCH needs beyond metadata: decoded header fields,
// read on demand and cached for the duration of one SEARCH command, and a
// match over the decoded text of text parts — streamed for big parts, so a
// 25 MB part is never held in memory. Header splitting, RFC 2047 decoding and transfer decoding
// are the structure module's (src/mail/structure).
import type { Readable, Transform } from 'node:stream';
import iconv from 'iconv-lite';
import type { MailStore, MessageMeta } from '../../mail/mailstore.js';
import { Base64Decoder, QuotedPrintableDecoder } from '../../mail/structure/binary.js';
import { parseHeaderFields } from '../../mail/structure/header.js';
import { decodeHeaderText } from '../../mail/structure/part-header.js';
import type { MessageStructure, PartNode } from '../../mail/structure/types.js';
import { renderedCache } from './rendered-cache.js';
import type { SearchContent } from './search-eval.js';

interface DecodedField {
  /** Lower-cased field name. */
  name: string;
  value: string;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

function decodeFields(raw: Buffer): DecodedField[] {
  return parseHeaderFields(raw.toString('latin1')).map((f) => ({ name: f.name.toLowerCase(), value: decodeHeaderText(f.value) }));
}

/**
 * What BODY searches, in order: text leaves and the headers of attached
 * messages (they are part of the outer message's body, RFC 3501 6.4.4).
 */
function textParts(node: PartNode, out: Array<{ kind: 'text' | 'header'; node: PartNode }> = []): typeof out {
  if (node.children) for (const child of node.children) textParts(child, out);
  else if (node.message) {
    out.push({ kind: 'header', node: node.message });
    textParts(node.message, out);
  } else if (node.type === 'text') out.push({ kind: 'text', node });
  return out;
}

/** What BODY search reads of one part: byte ranges, transfer encoding and charset. */
interface TextPart {
  kind: 'text' | 'header';
  headerStart: number;
  headerEnd: number;
  bodyStart: number;
  bodyEnd: number;
  encoding: string;
  params: { charset?: string };
}

/**
 * The text parts of each message, by content hash, for every SEARCH of a
 * store: a few hundred bytes each instead of a structure document read (and
 * decrypted) per message per search. Content is immutable; bounded in entries.
 */
const TEXT_PLANS = 20_000;
const textPlans = new WeakMap<MailStore, Map<string, TextPart[]>>();

function plansOf(store: MailStore): Map<string, TextPart[]> {
  let plans = textPlans.get(store);
  if (!plans) textPlans.set(store, (plans = new Map()));
  return plans;
}

function textPlan(node: PartNode): TextPart[] {
  return textParts(node).map(({ kind, node: n }) => ({
    kind,
    headerStart: n.headerStart,
    headerEnd: n.headerEnd,
    bodyStart: n.bodyStart,
    bodyEnd: n.bodyEnd,
    encoding: n.encoding,
    params: { charset: n.params.charset },
  }));
}

/** A part's body with its transfer encoding undone (unknown encodings as stored). */
function decodedBody(store: MailStore, hash: string, node: Pick<PartNode, 'bodyStart' | 'bodyEnd' | 'encoding'>): Readable {
  const raw = store.read(hash, node.bodyStart, node.bodyEnd);
  const encoding = node.encoding.toLowerCase();
  const decoder: Transform | null = encoding === 'base64' ? new Base64Decoder() : encoding === 'quoted-printable' ? new QuotedPrintableDecoder() : null;
  if (!decoder) return raw;
  raw.on('error', (err) => decoder.destroy(err));
  return raw.pipe(decoder);
}

/** Parts up to this size are searched in one piece (cheaper than streaming); bigger ones as a stream. */
const WHOLE_PART_MAX = 256 * 1024;

function charsetOf(charset: string | undefined): string {
  const name = (charset ?? 'utf-8').trim().toLowerCase();
  return name !== 'us-ascii' && iconv.encodingExists(name) ? name : 'utf-8';
}

function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const name = charsetOf(charset);
  return name === 'utf-8' ? bytes.toString('utf8') : iconv.decode(bytes, name);
}

/**
 * Case-insensitive substring search over a byte stream in `charset` (unknown
 * charsets read as UTF-8), chunk by chunk: decoded text is lower-cased and the
 * last needle-length characters are carried over so a match across a chunk
 * boundary is found. Stops reading at the first match.
 */
export async function streamContains(source: Readable, charset: string | undefined, needle: string): Promise<boolean> {
  const wanted = needle.toLowerCase();
  if (wanted === '') return true;
  const decoder = iconv.getDecoder(charsetOf(charset));
  let carry = '';
  const check = (text: string): boolean => {
    const window = carry + text.toLowerCase();
    if (window.includes(wanted)) return true;
    carry = window.slice(Math.max(0, window.length - (wanted.length - 1)));
    return false;
  };
  try {
    for await (const chunk of source) {
      if (check(decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)))) return true;
    }
    return check(decoder.end() ?? '');
  } finally {
    source.destroy();
  }
}

/** A SearchContent over `store`; create one per SEARCH so its cache dies with the command. */
export function createSearchContent(store: MailStore, opts: { cacheSize?: number } = {}): SearchContent {
  const limit = opts.cacheSize ?? 32; // > the messages searched at once (search-eval.ts)
  const structures = new Map<string, Promise<MessageStructure>>();
  const headers = new Map<string, Promise<DecodedField[]>>();

  function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let p = map.get(key);
    if (!p) {
      if (map.size >= limit) map.delete(map.keys().next().value!);
      p = load();
      map.set(key, p);
    }
    return p;
  }

  const structure = (meta: MessageMeta) => cached(structures, meta.hash, () => store.structure(meta.hash));

  const fields = (meta: MessageMeta) =>
    cached(headers, meta.hash, async () => {
      const s = await structure(meta);
      return decodeFields(await readAll(store.read(meta.hash, s.root.headerStart, s.root.headerEnd)));
    });

  const rendered = renderedCache(store);
  return {
    fields: async (meta) => {
      const hit = rendered.get(meta.hash) ?? (await rendered.loaded, rendered.get(meta.hash));
      return (hit ?? rendered.put(meta.hash, await structure(meta))).search;
    },
    headerValues: async (meta, name) => (await fields(meta)).filter((f) => f.name === name).map((f) => f.value),
    headerText: async (meta) => (await fields(meta)).map((f) => `${f.name}: ${f.value}`).join('\n'),
    bodyContains: async (meta, needle) => {
      const plans = plansOf(store);
      let plan = plans.get(meta.hash);
      if (!plan) {
        plan = textPlan((await structure(meta)).root);
        if (plans.size >= TEXT_PLANS) plans.delete(plans.keys().next().value!);
        plans.set(meta.hash, plan);
      }
      for (const node of plan) {
        const kind = node.kind;
        if (kind === 'header') {
          const raw = await readAll(store.read(meta.hash, node.headerStart, node.headerEnd));
          const text = decodeFields(raw).map((f) => `${f.name}: ${f.value}`).join('\n');
          if (text.toLowerCase().includes(needle.toLowerCase())) return true;
        } else if (node.bodyEnd - node.bodyStart <= WHOLE_PART_MAX) {
          const text = decodeCharset(await readAll(decodedBody(store, meta.hash, node)), node.params.charset);
          if (text.toLowerCase().includes(needle.toLowerCase())) return true;
        } else if (await streamContains(decodedBody(store, meta.hash, node), node.params.charset, needle)) {
          return true;
        }
      }
      return false;
    },
  };
}
