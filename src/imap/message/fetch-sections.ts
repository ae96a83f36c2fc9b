// Where the bytes of a BODY[section] / BINARY[section] come from (RFC 3501
// 6.4.5 section numbering) in a message's MIME tree (PartNode byte offsets).
// Follows Dovecot where the RFC is loose: a part that does not exist, or
// HEADER/TEXT of a part that is not message/rfc822, is an empty string, and
// "1" of a non-multipart node is that node's body.
import type { PartNode } from '../../mail/structure/types.js';
import type { SectionSpec } from './fetch-items.js';

export type SectionSource =
  /** A contiguous byte range of the raw message; `node` is the part it belongs to (for BINARY). */
  | { kind: 'range'; start: number; end: number; node: PartNode | null }
  /** HEADER.FIELDS[.NOT]: filter the header block [start, end). */
  | { kind: 'fields'; start: number; end: number; fields: string[]; not: boolean }
  | { kind: 'empty' };

/** The MIME node addressed by part numbers (RFC 3501 6.4.5), or null. */
export function findPart(root: PartNode, part: number[]): PartNode | null {
  let node = root;
  let isMessage = true; // node is a message (the root, or one encapsulated in message/rfc822)
  for (const n of part) {
    if (!isMessage && node.message) {
      node = node.message;
      isMessage = true;
    }
    if (node.children) {
      const child = node.children[n - 1];
      if (!child) return null;
      node = child;
    } else if (n !== 1) {
      return null;
    }
    isMessage = false;
  }
  return node;
}

/** Resolves a section to its byte source in the raw message. */
export function resolveSection(root: PartNode, section: SectionSpec): SectionSource {
  if (section.part.length === 0) {
    switch (section.text) {
      case null:
        return { kind: 'range', start: root.headerStart, end: root.bodyEnd, node: null };
      case 'TEXT':
        return { kind: 'range', start: root.bodyStart, end: root.bodyEnd, node: null };
      default:
        return headerSource(root, section);
    }
  }
  const node = findPart(root, section.part);
  if (!node) return { kind: 'empty' };
  switch (section.text) {
    case null:
      return { kind: 'range', start: node.bodyStart, end: node.bodyEnd, node };
    case 'MIME':
      return { kind: 'range', start: node.headerStart, end: node.headerEnd, node: null };
    case 'TEXT':
      return node.message ? { kind: 'range', start: node.message.bodyStart, end: node.message.bodyEnd, node: null } : { kind: 'empty' };
    default:
      return node.message ? headerSource(node.message, section) : { kind: 'empty' };
  }
}

function headerSource(message: PartNode, section: SectionSpec): SectionSource {
  if (section.text === 'HEADER') return { kind: 'range', start: message.headerStart, end: message.headerEnd, node: null };
  return { kind: 'fields', start: message.headerStart, end: message.headerEnd, fields: section.fields ?? [], not: section.text === 'HEADER.FIELDS.NOT' };
}

/**
 * The lines of the header fields named (or, with `not`, not named) in
 * `fields`, byte-exact with their folding, followed by the blank line
 * (RFC 3501 6.4.5: the subset of the header, "including the delimiting blank line").
 */
export function filterHeaderFields(header: Buffer, fields: string[], not: boolean): Buffer {
  const wanted = new Set(fields.map((f) => f.toLowerCase()));
  const out: Buffer[] = [];
  let keep = false;
  let pos = 0;
  while (pos < header.length) {
    let eol = header.indexOf(0x0a, pos);
    eol = eol < 0 ? header.length : eol + 1;
    const line = header.subarray(pos, eol);
    pos = eol;
    const first = line[0];
    if (first === 0x0d || first === 0x0a) break; // the blank line ending the header
    if (first === 0x20 || first === 0x09) {
      if (keep) out.push(line);
      continue;
    }
    const colon = line.indexOf(0x3a);
    const name = (colon > 0 ? line.subarray(0, colon) : line).toString('latin1').trim().toLowerCase();
    keep = colon > 0 && wanted.has(name) !== not;
    if (keep) out.push(line);
  }
  out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}
