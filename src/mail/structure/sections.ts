// Section resolution for FETCH BODY[...] (RFC 3501 6.4.5), independent of
// how the message was parsed: every section is a byte range of the stored
// message, or (HEADER.FIELDS / HEADER.FIELDS.NOT) a filter over the header's
// range. Nonexistent parts resolve to an empty range, as Dovecot answers.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { MessageStructure, PartNode } from './types.js';

export type SectionPart = 'HEADER' | 'TEXT' | 'MIME' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT';

export interface SectionSpec {
  /** Part numbers, [] for the message itself. */
  path: number[];
  part?: SectionPart;
  /** Field names for HEADER.FIELDS (NOT). */
  fields?: string[];
}

export type SectionPlan =
  | { kind: 'range'; start: number; end: number }
  | { kind: 'fields'; start: number; end: number; fields: string[]; not: boolean };

export interface SectionData {
  /** Exact number of bytes the stream will deliver. */
  size: number;
  stream: Readable;
}

const EMPTY: SectionPlan = { kind: 'range', start: 0, end: 0 };

/**
 * The node a part path designates, starting from a message node: in a
 * multipart, n is its n-th child; in a non-multipart message, 1 is the
 * message's own body part; the numbering continues inside message/rfc822.
 */
export function findPart(message: PartNode, path: number[]): PartNode | null {
  let cur = message;
  let part: PartNode | null = null;
  for (let i = 0; i < path.length; i++) {
    const k = path[i]!;
    if (part) {
      // descend: into a nested multipart, or into an encapsulated message
      if (part.type === 'multipart') cur = part;
      else if (part.message) cur = part.message;
      else return null;
    }
    if (cur.type === 'multipart') {
      part = cur.children?.[k - 1] ?? null;
      if (!part) return null;
    } else if (k === 1) {
      part = cur;
    } else {
      return null;
    }
  }
  return part;
}

/** Resolves a section spec to a plan over the stored bytes (RFC 3501 6.4.5). */
export function resolveSection(s: MessageStructure, spec: SectionSpec): SectionPlan {
  let message: PartNode | null;
  let part: PartNode | null = null;
  if (spec.path.length === 0) {
    message = s.root;
  } else {
    part = findPart(s.root, spec.path);
    if (!part) return EMPTY;
    // HEADER/TEXT/HEADER.FIELDS of part n apply to a message/rfc822 part's message
    message = part.message ?? null;
  }
  switch (spec.part) {
    case undefined:
      if (!part) return { kind: 'range', start: 0, end: s.size };
      return { kind: 'range', start: part.bodyStart, end: part.bodyEnd };
    case 'MIME':
      if (!part) return EMPTY; // MIME needs a part number
      return { kind: 'range', start: part.headerStart, end: part.headerEnd };
    case 'HEADER':
      if (!message) return EMPTY;
      return { kind: 'range', start: message.headerStart, end: message.headerEnd };
    case 'TEXT':
      if (!message) return EMPTY;
      return { kind: 'range', start: message.bodyStart, end: message.bodyEnd };
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      if (!message) return EMPTY;
      return {
        kind: 'fields',
        start: message.headerStart,
        end: message.headerEnd,
        fields: (spec.fields ?? []).map((f) => f.toLowerCase()),
        not: spec.part === 'HEADER.FIELDS.NOT',
      };
  }
}

/**
 * The header fields of `header` (raw bytes, folding kept) whose names are
 * (not) in `names`, followed by the blank line that ends the header — unless
 * the header has none (RFC 3501 6.4.5: "the blank line is always included in
 * header fetches, except in the case of a message which has no body and no
 * blank line"). A line without a colon counts as a field named by the whole
 * line, as Dovecot parses it.
 */
export function filterHeader(header: Buffer, names: string[], not: boolean): Buffer {
  const wanted = new Set(names);
  const out: Buffer[] = [];
  let keep = false;
  let blank = false;
  let seenField = false;
  let pos = 0;
  while (pos < header.length) {
    const nl = header.indexOf(0x0a, pos);
    const end = nl < 0 ? header.length : nl + 1;
    const line = header.subarray(pos, end);
    pos = end;
    const first = line[0];
    if (first === 0x0a || (first === 0x0d && line[1] === 0x0a)) {
      blank = true;
      break;
    }
    if ((first === 0x20 || first === 0x09) && seenField) {
      if (keep) out.push(line);
      continue;
    }
    // (a whitespace-led first line is a field of its own, named with its whitespace, as Dovecot parses it)
    seenField = true;
    const colon = line.indexOf(0x3a);
    const name = (colon < 0 ? line.toString('latin1').replace(/\r?\n$/, '') : line.subarray(0, colon).toString('latin1')).trimEnd().toLowerCase();
    keep = wanted.has(name) !== not;
    if (keep) out.push(line);
  }
  // a last field without line break gets one, so the result stays well-formed
  const last = out[out.length - 1];
  if (last && last[last.length - 1] !== 0x0a) out.push(Buffer.from('\r\n'));
  if (blank) out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}

/**
 * Replaces NUL bytes with 0x80, byte for byte (sizes unchanged). RFC 3501 9
 * forbids NUL in a literal; Dovecot sends 0x80 instead. For the IMAP layer
 * to pipe a non-BINARY section through; the stored bytes stay untouched.
 */
export class NulFilter extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.indexOf(0) < 0) return cb(null, chunk);
    const copy = Buffer.from(chunk);
    for (let i = copy.indexOf(0); i >= 0; i = copy.indexOf(0, i + 1)) copy[i] = 0x80;
    cb(null, copy);
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** Applies a partial fetch <start.length> (RFC 3501 6.4.5) to a size. */
export function partialRange(size: number, partial?: { start: number; length: number }): { from: number; to: number } {
  if (!partial) return { from: 0, to: size };
  const from = Math.min(partial.start, size);
  return { from, to: Math.min(size, from + partial.length) };
}

/**
 * Reads a section: `read(start, end)` must stream bytes [start, end) of the
 * stored message. The size is known before any byte is streamed.
 */
export async function readSection(
  read: (start: number, end: number) => Readable,
  plan: SectionPlan,
  partial?: { start: number; length: number },
): Promise<SectionData> {
  if (plan.kind === 'range') {
    const { from, to } = partialRange(plan.end - plan.start, partial);
    const size = to - from;
    return { size, stream: size === 0 ? Readable.from([]) : read(plan.start + from, plan.start + to) };
  }
  // HEADER.FIELDS: the header is small, filter it in memory
  const header = plan.end > plan.start ? await collect(read(plan.start, plan.end)) : Buffer.alloc(0);
  const filtered = filterHeader(header, plan.fields, plan.not);
  const { from, to } = partialRange(filtered.length, partial);
  const slice = filtered.subarray(from, to);
  return { size: slice.length, stream: Readable.from(slice.length ? [slice] : []) };
}
