// The message content SEARCH needs beyond metadata: decoded header fields and
// the decoded text of text parts, read from the MailStore on demand and cached
// for the duration of one SEARCH command.
import libmime from 'libmime';
import type { MailStore, MessageMeta } from '../../mail/mailstore.js';
import type { MessageStructure, PartNode } from '../../mail/structure/types.js';
import type { SearchContent } from './search-eval.js';
import { decodeCharset, decodeTransfer, readAll } from './transfer-decode.js';

export interface HeaderField {
  /** Lower-cased field name. */
  name: string;
  /** Unfolded raw value (RFC 5322 2.2.3). */
  value: string;
}

/** Splits a header block into fields, unfolding continuation lines. */
export function parseHeaderFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && fields.length > 0) {
      fields[fields.length - 1]!.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return fields;
}

function decodeWords(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value;
  }
}

/** Text leaves of a MIME tree, including those inside attached messages. */
function textParts(node: PartNode, out: PartNode[] = []): PartNode[] {
  if (node.children) for (const child of node.children) textParts(child, out);
  else if (node.message) textParts(node.message, out);
  else if (node.type === 'text') out.push(node);
  return out;
}

/** A SearchContent over `store`; create one per SEARCH so its cache dies with the command. */
export function createSearchContent(store: MailStore, opts: { cacheSize?: number } = {}): SearchContent {
  const limit = opts.cacheSize ?? 8;
  const structures = new Map<string, Promise<MessageStructure>>();
  const headers = new Map<string, Promise<HeaderField[]>>();
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
      return parseHeaderFields(raw.toString('utf8')).map((f) => ({ name: f.name, value: decodeWords(f.value) }));
    });

  return {
    structure,
    headerValues: async (meta, name) => (await fields(meta)).filter((f) => f.name === name).map((f) => f.value),
    headerText: async (meta) => (await fields(meta)).map((f) => `${f.name}: ${f.value}`).join('\n'),
    bodyText: (meta) =>
      cached(bodies, meta.hash, async () => {
        const s = await structure(meta);
        const texts: string[] = [];
        for (const part of textParts(s.root)) {
          const raw = await readAll(store.read(meta.hash, part.bodyStart, part.bodyEnd));
          texts.push(decodeCharset(decodeTransfer(raw, part.encoding), part.params.charset));
        }
        return texts.join('\n');
      }),
  };
}
