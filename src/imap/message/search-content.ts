// The message content SEARCH needs beyond metadata: decoded header fields and
// the decoded text of text parts, read from the MailStore on demand and cached
// for the duration of one SEARCH command. Header splitting, RFC 2047 decoding
// and transfer decoding are the structure module's (src/mail/structure).
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/** Bytes in `charset` to a JS string; unknown charsets are read as UTF-8. */
export function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const name = (charset ?? 'us-ascii').trim().toLowerCase();
  if (name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || !iconv.encodingExists(name)) return bytes.toString('utf8');
  return iconv.decode(bytes, name);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
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

/** A part's body with its transfer encoding undone (unknown encodings as stored). */
async function decodedBody(store: MailStore, hash: string, node: PartNode): Promise<Buffer> {
  const raw = store.read(hash, node.bodyStart, node.bodyEnd);
  const encoding = node.encoding.toLowerCase();
  const decoder = encoding === 'base64' ? new Base64Decoder() : encoding === 'quoted-printable' ? new QuotedPrintableDecoder() : null;
  if (!decoder) return readAll(raw);
  const chunks: Buffer[] = [];
  await pipeline(raw, decoder, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

function decodeFields(raw: Buffer): DecodedField[] {
  return parseHeaderFields(raw.toString('latin1')).map((f) => ({ name: f.name.toLowerCase(), value: decodeHeaderText(f.value) }));
}

/** A SearchContent over `store`; create one per SEARCH so its cache dies with the command. */
export function createSearchContent(store: MailStore, opts: { cacheSize?: number } = {}): SearchContent {
  const limit = opts.cacheSize ?? 32; // > the messages searched at once (search-eval.ts)
  const structures = new Map<string, Promise<MessageStructure>>();
  const headers = new Map<string, Promise<DecodedField[]>>();
  const bodies = new Map<string, Promise<string>>();

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
      const raw = await readAll(store.read(meta.hash, s.root.headerStart, s.root.headerEnd));
      return decodeFields(raw);
    });

  const rendered = renderedCache(store);
  return {
    fields: async (meta) => (rendered.get(meta.hash) ?? rendered.put(meta.hash, await structure(meta))).search,
    headerValues: async (meta, name) => (await fields(meta)).filter((f) => f.name === name).map((f) => f.value),
    headerText: async (meta) => (await fields(meta)).map((f) => `${f.name}: ${f.value}`).join('\n'),
    bodyText: (meta) =>
      cached(bodies, meta.hash, async () => {
        const s = await structure(meta);
        const texts: string[] = [];
        for (const { kind, node } of textParts(s.root)) {
          if (kind === 'header') {
            const raw = await readAll(store.read(meta.hash, node.headerStart, node.headerEnd));
            texts.push(decodeFields(raw).map((f) => `${f.name}: ${f.value}`).join('\n'));
          } else {
            texts.push(decodeCharset(await decodedBody(store, meta.hash, node), node.params.charset));
          }
        }
        return texts.join('\n');
      }),
  };
}
