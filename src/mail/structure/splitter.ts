// A streaming MIME splitter that records byte offsets (RFC 2045/2046) and
// never keeps bodies: it holds at most one partial line and the header block
// of the part being read (capped). Feed it chunks with write(), then end().
//
// Rules (RFC 2046 5.1.1, with Dovecot's leniency as the reference):
// - a boundary line is "--" + boundary at the start of a line (prefix match;
//   a trailing "--" closes the multipart); the line break before it belongs
//   to the boundary, not to the part;
// - a boundary of any enclosing multipart ends the inner parts too;
// - a missing closing boundary ends every open part at the end of the data;
// - a header without a blank line ends at the first boundary or at the end.
import { parseHeaderFields, type HeaderField } from './header.js';
import { partHeaderInfo, type PartHeaderInfo } from './part-header.js';
import type { PartNode } from './types.js';

/** Nesting levels (the root is the first); a container at the last level is an opaque leaf. */
export const MAX_DEPTH = 100;
/** At most this many parts (the root included); the rest of the message stays in the last part. */
export const MAX_PARTS = 10_000;
/** Header bytes kept per part for parsing; the rest is counted but not parsed. */
const MAX_HEADER_BYTES = 256 * 1024;
const CRLF = Buffer.from('\r\n');
/** A line longer than this is processed in pieces (bounded memory). */
const MAX_LINE_CARRY = 64 * 1024;

/** What the splitter learned besides the offsets: raw header data for rendering. */
export interface SplitExtras {
  /** MIME info (raw parameters) of each node. */
  info: Map<PartNode, PartHeaderInfo>;
  /** Header fields of each message node (the root and every encapsulated message). */
  messageFields: Map<PartNode, HeaderField[]>;
  /**
   * The root's header lines as they came (its blank line as CRLF), or null
   * when they were not all kept (over MAX_HEADER_BYTES).
   */
  rootHeader?: Buffer | null;
}

interface Frame {
  node: PartNode;
  depth: number;
  inHeader: boolean;
  header: Buffer[];
  headerBytes: number;
  isMessage: boolean;
  digest: boolean;
  boundary: Buffer | null;
  /** For a multipart: 0 preamble, 1 inside a part, 2 epilogue. */
  mpState: 0 | 1 | 2;
  lfAtBodyStart: number;
  /** Whether this frame's children default to message/rfc822 (multipart/digest). */
  parentDigest: boolean;
}

function newNode(path: string, start: number): PartNode {
  return {
    path,
    headerStart: start,
    headerEnd: start,
    bodyStart: start,
    bodyEnd: start,
    type: 'text',
    subtype: 'plain',
    params: {},
    id: null,
    description: null,
    encoding: '7bit',
    lines: null,
    md5: null,
    disposition: null,
    language: null,
    location: null,
  };
}

export class MimeSplitter {
  private offset = 0;
  private lf = 0;
  /** LFs before the start of the current line. */
  private lfAtLineStart = 0;
  private prevEol = 0;
  /** The previous line was a boundary line: its line break is not the next boundary's. */
  private prevWasBoundary = false;
  /** Too many parts: no more boundaries are recognized. */
  private overflow = false;
  private midLine = false;
  private carry: Buffer | null = null;
  private frames: Frame[] = [];
  private parts = 1;
  readonly root: PartNode;
  readonly extras: SplitExtras = { info: new Map(), messageFields: new Map() };

  constructor() {
    this.root = newNode('', 0);
    this.frames.push(this.frame(this.root, 0, true, false));
  }

  private frame(node: PartNode, depth: number, isMessage: boolean, parentDigest: boolean): Frame {
    return {
      node,
      depth,
      inHeader: true,
      header: [],
      headerBytes: 0,
      isMessage,
      digest: false,
      boundary: null,
      mpState: 0,
      lfAtBodyStart: 0,
      parentDigest,
    };
  }

  write(chunk: Buffer): void {
    let data = chunk;
    if (this.carry) {
      // Only the carried line is joined with its end, not with the whole
      // chunk: that copied every chunk after one that ended mid-line.
      const nl = chunk.indexOf(0x0a);
      const joined = Buffer.concat([this.carry, nl < 0 ? chunk : chunk.subarray(0, nl + 1)]);
      this.carry = null;
      if (nl < 0) data = joined;
      else {
        this.lines(joined);
        data = chunk.subarray(nl + 1);
      }
    }
    const pos = this.lines(data);
    if (pos < data.length) {
      const rest = data.subarray(pos);
      if (rest.length > MAX_LINE_CARRY) this.line(rest, false);
      else this.carry = Buffer.from(rest);
    }
  }

  /** Takes every complete line of `data`; returns where the incomplete rest begins. */
  private lines(data: Buffer): number {
    let pos = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, pos);
      if (nl < 0) break;
      const top = this.frames[this.frames.length - 1]!;
      if (!top.inHeader && (this.midLine || data[pos] !== 0x2d || data[pos + 1] !== 0x2d)) {
        // fast path: a body line that cannot be a boundary only moves the counters
        const len = nl + 1 - pos;
        this.lfAtLineStart = this.lf;
        this.offset += len;
        this.lf++;
        this.midLine = false;
        this.prevEol = len >= 2 && data[nl - 1] === 0x0d ? 2 : 1;
        this.prevWasBoundary = false;
      } else {
        this.line(data.subarray(pos, nl + 1), true);
      }
      pos = nl + 1;
    }
    return pos;
  }

  /** Ends the input; returns the root of the tree. */
  end(): PartNode {
    if (this.carry) {
      this.line(this.carry, false);
      this.carry = null;
    }
    this.closeFrames(0, { index: this.frames.length - 1, end: this.offset, lfEnd: this.lf, outerEnd: this.offset, lfOuter: this.lf, emptyEnd: this.offset });
    return this.root;
  }

  private line(line: Buffer, complete: boolean): void {
    const lineStart = this.offset;
    const atLineStart = !this.midLine;
    this.offset += line.length;
    this.lfAtLineStart = this.lf;
    if (complete) this.lf++;
    this.midLine = !complete;
    const eol = complete ? (line.length >= 2 && line[line.length - 2] === 0x0d ? 2 : 1) : 0;

    if (atLineStart && line.length >= 2 && line[0] === 0x2d && line[1] === 0x2d && this.boundaryLine(line, lineStart)) {
      this.prevEol = eol;
      this.prevWasBoundary = true;
      return;
    }
    this.prevWasBoundary = false;
    const top = this.frames[this.frames.length - 1]!;
    if (top.inHeader) {
      if (atLineStart && complete && line.length === eol) {
        this.endHeader(top, this.offset);
      } else if (top.headerBytes < MAX_HEADER_BYTES) {
        top.header.push(Buffer.from(line));
        top.headerBytes += line.length;
      }
    }
    this.prevEol = eol;
  }

  /** Handles a line starting with "--"; true when it was a boundary of an open multipart. */
  private boundaryLine(line: Buffer, lineStart: number): boolean {
    if (this.overflow) return false;
    // The longest boundary that prefixes the line wins; among equals the
    // innermost (RFC 2046 5.1.1 forbids such overlaps, Dovecot resolves them so).
    let i = -1;
    for (let j = this.frames.length - 1; j >= 0; j--) {
      const f = this.frames[j]!;
      const b = f.boundary;
      if (!b || f.inHeader || f.mpState === 2 || line.length < 2 + b.length) continue;
      if (line.compare(b, 0, b.length, 2, 2 + b.length) !== 0) continue;
      if (i < 0 || b.length > this.frames[i]!.boundary!.length) i = j;
    }
    if (i >= 0) {
      const f = this.frames[i]!;
      const b = f.boundary!;
      const close = line[2 + b.length] === 0x2d && line[3 + b.length] === 0x2d;
      if (!close && this.parts >= MAX_PARTS) {
        // Dovecot's max_total_mime_parts: the rest of the message is the body of the last part
        this.overflow = true;
        return false;
      }
      // The line break before the boundary belongs to the boundary (RFC 2046 5.1.1),
      // unless it ended the previous boundary line (an empty epilogue, as Dovecot counts).
      const strip = this.prevWasBoundary ? 0 : this.prevEol;
      const end = lineStart - strip;
      const lfEnd = strip > 0 ? this.lfAtLineStart - 1 : this.lfAtLineStart;
      // That line break is given up by the innermost part that has bytes there
      // (an encapsulated message with no bytes yet leaves it to its part). If
      // it came out of that part's body, the enclosing parts closed by the same
      // boundary end there too; if it came out of a header, they keep it
      // (Dovecot's accounting, checked by the differential test).
      let k = this.frames.length - 1;
      while (k > i + 1 && strip > 0 && this.frames[k]!.node.headerStart >= lineStart) k--;
      const owner = this.frames[k]!;
      const fromBody = !owner.inHeader && end >= owner.node.bodyStart;
      const outerEnd = fromBody ? end : lineStart;
      this.closeFrames(i + 1, { index: k, end, lfEnd, outerEnd, lfOuter: fromBody ? lfEnd : this.lfAtLineStart, emptyEnd: lineStart });
      if (close) {
        f.mpState = 2;
      } else {
        f.mpState = 1;
        const index = (f.node.children?.length ?? 0) + 1;
        const child = newNode(f.node.path === '' ? String(index) : `${f.node.path}.${index}`, this.offset);
        (f.node.children ??= []).push(child);
        this.parts++;
        const cf = this.frame(child, f.depth + 1, false, f.digest);
        cf.lfAtBodyStart = this.lf;
        this.frames.push(cf);
      }
      return true;
    }
    return false;
  }

  /**
   * Closes frames from index `from` to the top at byte `end` (LF count
   * `lfEnd` before it); with `at`, frame `at.index` ends at `at.end`, those
   * below it at `at.outerEnd` and the (empty) ones above it at `at.emptyEnd`.
   */
  private closeFrames(
    from: number,
    at: { index: number; end: number; lfEnd: number; outerEnd: number; lfOuter: number; emptyEnd: number },
  ): void {
    while (this.frames.length > from) {
      const idx = this.frames.length - 1;
      const end = idx > at.index ? at.emptyEnd : idx === at.index ? at.end : at.outerEnd;
      const lfEnd = idx > at.index ? this.lfAtLineStart : idx === at.index ? at.lfEnd : at.lfOuter;
      const f = this.frames.pop()!;
      const n = f.node;
      if (f.inHeader) {
        this.endHeader(f, Math.max(n.headerStart, end), true);
        this.frames.pop();
      }
      if (end < n.bodyStart) {
        // the blank line ending the header was the boundary's line break
        n.headerEnd = n.bodyStart = Math.max(n.headerStart, end);
        f.lfAtBodyStart = Math.min(f.lfAtBodyStart, lfEnd);
      }
      n.bodyEnd = Math.max(n.bodyStart, end);
      const m = n.message;
      if (m && m.headerStart !== n.bodyStart) {
        // the part's header gave its last line break to the boundary: its (empty) message moves with it
        m.headerStart = m.headerEnd = m.bodyStart = n.bodyStart;
        m.bodyEnd = n.bodyEnd;
      }
      if (n.type === 'text' || (n.type === 'message' && n.subtype === 'rfc822' && n.message)) {
        n.lines = Math.max(0, lfEnd - f.lfAtBodyStart);
      }
      if (n.children && n.children.length === 0) delete n.children;
    }
  }

  /** The header of `f` ends at `headerEnd`; sets the node's MIME fields and prepares its body. */
  private endHeader(f: Frame, headerEnd: number, closing = false): void {
    const n = f.node;
    f.inHeader = false;
    n.headerEnd = headerEnd;
    n.bodyStart = headerEnd;
    n.bodyEnd = headerEnd;
    f.lfAtBodyStart = this.lf;
    const block = Buffer.concat(f.header);
    if (n === this.root) {
      // Kept whole only if every byte up to the header's end is there (a blank line is 1 or 2 bytes).
      const rest = n.headerEnd - n.headerStart - block.length;
      this.extras.rootHeader = (closing ? rest === 0 : rest === 1 || rest === 2) ? (closing ? block : Buffer.concat([block, CRLF])) : null;
    }
    const fields = parseHeaderFields(block.toString('latin1'));
    f.header = [];
    // A message header with neither MIME-Version nor Content-Type is not MIME:
    // its other Content-* fields are ignored (as Dovecot does).
    const mime = !f.isMessage || fields.some((h) => /^(mime-version|content-type)$/i.test(h.name));
    const info = partHeaderInfo(mime ? fields : [], f.parentDigest);
    // ...but its Content-Transfer-Encoding still says how to decode it (BINARY, as Dovecot does)
    const encoding = mime ? info.encoding : partHeaderInfo(fields, f.parentDigest).encoding;
    this.extras.info.set(n, info);
    if (f.isMessage) this.extras.messageFields.set(n, fields);
    n.type = info.type;
    n.subtype = info.subtype;
    n.params = info.params;
    n.id = info.id;
    n.description = info.description;
    n.encoding = encoding;
    n.md5 = info.md5;
    n.disposition = info.disposition ? { type: info.disposition.type, params: info.disposition.params } : null;
    n.language = info.language;
    n.location = info.location;
    if (closing) {
      this.frames.push(f); // closeFrames pops it again
      return;
    }
    // Dovecot's max_nested_mime_parts (100, counting the root): a container
    // part at the last level is not parsed; it becomes an opaque
    // application/octet-stream leaf (its parameters kept), as Dovecot reports it.
    const tooDeep = f.depth >= MAX_DEPTH - 1;
    if (tooDeep && (n.type === 'multipart' || (n.type === 'message' && n.subtype === 'rfc822'))) {
      n.type = info.type = info.rawType = 'application';
      n.subtype = info.subtype = info.rawSubtype = 'octet-stream';
      return;
    }
    if (n.type === 'multipart') {
      const boundary = info.params['boundary'];
      if (boundary && !tooDeep) {
        f.boundary = Buffer.from(info.rawParams.find((p) => p.name.toLowerCase() === 'boundary')?.value ?? boundary, 'latin1');
        f.digest = n.subtype === 'digest';
        n.children = [];
      }
    } else if (n.type === 'message' && n.subtype === 'rfc822' && !tooDeep) {
      const msg = newNode(n.path, headerEnd);
      n.message = msg;
      const mf = this.frame(msg, f.depth + 1, true, false);
      mf.lfAtBodyStart = this.lf;
      this.frames.push(mf);
    }
  }
}
