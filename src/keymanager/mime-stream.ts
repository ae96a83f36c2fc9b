// Streaming counterparts of the byte-level MIME helpers in mime.ts, for
// messages too big to hold (a 25 MB submission): canonical CRLF line ends,
// header/body split, and the 7-bit re-encoding that keeps a signature valid
// through relays (RFC 3156 §3). The re-encoding walks the MIME structure line
// by line in two passes over a re-readable source: the first decides which
// leaf parts need re-encoding (that changes their header, which comes before
// the body), the second writes. Long lines travel in slices, so memory stays
// bounded by the slice size whatever the message holds. make7bitSafe in
// mime.ts is the in-memory reference; the tests hold both to the same bytes.
import { headerValue, makeField, parseContentType, parseHeader, serializeHeader, type HeaderField } from './mime.js';
import { Base64Lines, QuotedPrintable, type BodyEncoder } from './transfer-encoders.js';

const CRLF = Buffer.from('\r\n');
/** Longest slice of one line handed around; longer lines arrive in several. */
const PIECE = 64 * 1024;
/** A header block larger than this is refused (no mail client writes one). */
export const HEADER_MAX = 1024 * 1024;

/** A message or part whose header block is unreasonably large. */
export class MimeLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MimeLimitError';
  }
}

/** Bare LF and bare CR become CRLF (what toCRLF does), across chunk boundaries too. */
export async function* crlfStream(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  let pendingCR = false;
  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (chunk.length === 0) continue;
    if (!pendingCR && isCanonical(chunk)) {
      yield chunk;
      continue;
    }
    const out: Buffer[] = [];
    let start = 0;
    let i = 0;
    if (pendingCR) {
      out.push(CRLF);
      pendingCR = false;
      if (chunk[0] === 0x0a) start = i = 1;
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x0d) {
        if (i + 1 === chunk.length) {
          out.push(chunk.subarray(start, i));
          start = i + 1;
          pendingCR = true;
        } else if (chunk[i + 1] === 0x0a) i++;
        else {
          out.push(chunk.subarray(start, i), CRLF);
          start = i + 1;
        }
      } else if (c === 0x0a) {
        out.push(chunk.subarray(start, i), CRLF);
        start = i + 1;
      }
    }
    if (start === 0 && out.length === 0) {
      yield chunk;
      continue;
    }
    if (start < chunk.length) out.push(chunk.subarray(start));
    yield Buffer.concat(out);
  }
  if (pendingCR) yield CRLF;
}

/** Every LF preceded by CR and every CR followed by LF, within the chunk (native searches, no byte loop). */
function isCanonical(chunk: Buffer): boolean {
  for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) if (i === 0 || chunk[i - 1] !== 0x0d) return false;
  for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) if (chunk[i + 1] !== 0x0a) return false;
  return true;
}

/**
 * Splits a canonical (CRLF) message into its header block (ending in CRLF,
 * without the blank line; what splitEntity returns) and the body as a stream.
 */
export async function splitHead(source: AsyncIterable<Buffer>): Promise<{ header: Buffer; body: AsyncGenerator<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  let acc = Buffer.alloc(0);
  let searchFrom = 0;
  for (;;) {
    if (acc.length >= 2 && acc[0] === 0x0d && acc[1] === 0x0a) return { header: Buffer.alloc(0), body: rest(acc.subarray(2), it) };
    const idx = acc.indexOf('\r\n\r\n', searchFrom);
    if (idx >= 0) return { header: acc.subarray(0, idx + 2), body: rest(acc.subarray(idx + 4), it) };
    if (acc.length > HEADER_MAX) throw new MimeLimitError(`the header block is over ${HEADER_MAX} bytes`);
    searchFrom = Math.max(0, acc.length - 3);
    const { value, done } = await it.next();
    if (done) return { header: acc, body: rest(Buffer.alloc(0), it) };
    acc = acc.length ? Buffer.concat([acc, value]) : value;
  }
}

async function* rest(first: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first.length) yield first;
  for (;;) {
    const { value, done } = await it.next();
    if (done) return;
    yield value;
  }
}

/** One slice of a line. `end`: the line ends here; `last`: it is the stream's last line (no CRLF follows). */
interface Piece {
  data: Buffer;
  start: boolean;
  end: boolean;
  last: boolean;
}

/** Canonical text as lines (CRLF removed), long lines in slices; one slice can be pushed back. */
class LineReader {
  private buf = Buffer.alloc(0);
  private done = false;
  private finished = false;
  private midLine = false;
  private readonly back: Piece[] = [];
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  unread(p: Piece): void {
    this.back.push(p);
  }

  /**
   * As many whole lines as are buffered (each with its CRLF), up to the next
   * line that starts with "--" (only such a line can be a delimiter): the
   * fast path through long bodies. Null when next() must be used instead.
   */
  async run(): Promise<Buffer | null> {
    if (this.back.length > 0 || this.midLine) return null;
    while (!this.done && this.buf.length < PIECE) {
      const { value, done } = await this.it.next();
      if (done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, value]) : value;
    }
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) return null;
    const dash = this.buf.indexOf('\r\n--');
    const end = dash >= 0 ? dash + 2 : this.buf.lastIndexOf(CRLF) + 2;
    if (end < 2) return null;
    const out = this.buf.subarray(0, end);
    this.buf = this.buf.subarray(end);
    return out;
  }

  async next(): Promise<Piece | null> {
    const back = this.back.pop();
    if (back) return back;
    for (;;) {
      const nl = this.buf.indexOf(CRLF);
      if (nl >= 0) {
        const piece = { data: this.buf.subarray(0, nl), start: !this.midLine, end: true, last: false };
        this.buf = this.buf.subarray(nl + 2);
        this.midLine = false;
        return piece;
      }
      if (this.done) {
        if (this.finished) return null;
        this.finished = true;
        return { data: this.buf, start: !this.midLine, end: true, last: true };
      }
      if (this.buf.length > PIECE) {
        // Keep two bytes back: a CR that may start the CRLF, and so the rest of the line is never an empty slice.
        const piece = { data: this.buf.subarray(0, this.buf.length - 2), start: !this.midLine, end: false, last: false };
        this.buf = this.buf.subarray(this.buf.length - 2);
        this.midLine = true;
        return piece;
      }
      const { value, done } = await this.it.next();
      if (done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, value]) : value;
    }
  }
}

const bytesOf = (p: Piece): Buffer[] => (p.end && !p.last ? [p.data, CRLF] : [p.data]);

/**
 * Whether a line is a delimiter of one of the enclosing multiparts
 * (outermost first: an outer delimiter ends inner parts too), as
 * splitMultipart reads them (RFC 2046 §5.1.1).
 */
function delimiterOf(p: Piece, boundaries: string[]): { index: number; close: boolean } | null {
  if (!p.start || !p.end || p.data.length < 3 || p.data.length > 1000 || p.data[0] !== 0x2d || p.data[1] !== 0x2d) return null;
  const line = p.data.toString('latin1');
  for (let i = 0; i < boundaries.length; i++) {
    const b = boundaries[i];
    if (!line.startsWith(`--${b}`)) continue;
    const after = line.slice(b.length + 2);
    if (/^(--)?[ \t]*$/.test(after)) return { index: i, close: after.startsWith('--') };
  }
  return null;
}

export type SevenBitEncoding = 'quoted-printable' | 'base64' | null;
/** Per leaf part, in document order: the transfer encoding it is rewritten to, or null for unchanged. */
export type SevenBitPlan = SevenBitEncoding[];

interface Walk {
  reader: LineReader;
  /** null while planning. */
  plan: SevenBitPlan | null;
  decided: SevenBitPlan;
}

interface Entity {
  fields: HeaderField[];
  /** The header block exactly as it was, blank line included when there was one. */
  raw: Buffer[];
}

async function readPartHeader(w: Walk, boundaries: string[]): Promise<Entity> {
  const raw: Buffer[] = [];
  let text = '';
  let size = 0;
  for (;;) {
    const p = await w.reader.next();
    if (!p) break;
    if (delimiterOf(p, boundaries)) {
      w.reader.unread(p);
      break;
    }
    raw.push(...bytesOf(p));
    size += p.data.length + 2;
    if (size > HEADER_MAX) throw new MimeLimitError(`a MIME part's header block is over ${HEADER_MAX} bytes`);
    if (p.start && p.end && p.data.length === 0) break;
    text += p.data.toString('latin1') + (p.end ? '\r\n' : '');
  }
  return { fields: parseHeader(text), raw };
}

async function* walkEntity(w: Walk, e: Entity, boundaries: string[]): AsyncGenerator<Buffer> {
  const ct = parseContentType(headerValue(e.fields, 'content-type'));
  if (ct.mime.startsWith('multipart/') && ct.params.boundary) {
    yield* e.raw;
    yield* walkMultipart(w, ct.params.boundary, boundaries);
    return;
  }
  if (ct.mime === 'message/rfc822') {
    yield* e.raw;
    yield* passBody(w, boundaries, null);
    return;
  }
  const index = w.decided.length;
  w.decided.push(null);
  const cte = (headerValue(e.fields, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable' || cte === 'base64') {
    yield* e.raw;
    yield* passBody(w, boundaries, null);
    return;
  }
  if (!w.plan) {
    const scan = { safe: true, lineLength: 0 };
    yield* e.raw;
    yield* passBody(w, boundaries, scan);
    w.decided[index] = scan.safe ? null : ct.mime.startsWith('text/') ? 'quoted-printable' : 'base64';
    return;
  }
  const encoding = w.plan[index] ?? null;
  w.decided[index] = encoding;
  if (!encoding) {
    yield* e.raw;
    yield* passBody(w, boundaries, null);
    return;
  }
  const kept = e.fields.filter((f) => f.key !== 'content-transfer-encoding');
  kept.push(makeField('Content-Transfer-Encoding', encoding));
  yield Buffer.from(serializeHeader(kept) + '\r\n', 'latin1');
  yield* encodeBody(w, boundaries, encoding === 'base64' ? new Base64Lines() : new QuotedPrintable());
}

async function* walkMultipart(w: Walk, boundary: string, outer: string[]): AsyncGenerator<Buffer> {
  const boundaries = [...outer, boundary];
  const own = boundaries.length - 1;
  let epilogue = false;
  for (;;) {
    const p = await w.reader.next();
    if (!p) return;
    const d = delimiterOf(p, boundaries);
    if (d && d.index < own) {
      // An enclosing multipart's delimiter: this one ends here (it was not closed).
      w.reader.unread(p);
      return;
    }
    yield* bytesOf(p);
    if (!d || epilogue) continue;
    if (d.close) {
      epilogue = true;
      continue;
    }
    for (;;) {
      yield* walkEntity(w, await readPartHeader(w, boundaries), boundaries);
      const q = await w.reader.next();
      if (!q) return;
      const next = delimiterOf(q, boundaries);
      if (!next || next.index < own) {
        w.reader.unread(q);
        return;
      }
      yield* bytesOf(q);
      if (next.close) break;
    }
    epilogue = true;
  }
}

/** A body unchanged, up to the next delimiter of an enclosing multipart; `scan` learns whether it is 7-bit safe. */
async function* passBody(w: Walk, boundaries: string[], scan: { safe: boolean; lineLength: number } | null): AsyncGenerator<Buffer> {
  for (;;) {
    const run = await w.reader.run();
    if (run) {
      if (scan?.safe) scan.safe = is7bitLines(run);
      yield run;
      continue;
    }
    const p = await w.reader.next();
    if (!p) return;
    if (delimiterOf(p, boundaries)) {
      w.reader.unread(p);
      return;
    }
    if (scan?.safe) {
      if (p.start) scan.lineLength = 0;
      scan.lineLength += p.data.length;
      // RFC 5322 §2.1.1: at most 998 octets per line (the CR counted, as is7bitSafe does: stricter by one at most).
      if (scan.lineLength + (p.last ? 0 : 1) > 998) scan.safe = false;
      else if (!is7bitBytes(p.data)) scan.safe = false;
    }
    yield* bytesOf(p);
  }
}

/** Whole CRLF-terminated lines: 7-bit, no NUL, at most 998 octets a line with its CR. */
function is7bitLines(data: Buffer): boolean {
  let lineLength = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 0x0a) lineLength = 0;
    else if (c === 0 || (c > 0x7e && c !== 0x7f) || ++lineLength > 998) return false;
  }
  return true;
}

function is7bitBytes(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 0 || (c > 0x7e && c !== 0x7f)) return false;
  }
  return true;
}

/** The body re-encoded; the CRLF before the following delimiter belongs to the delimiter, not the body. */
async function* encodeBody(w: Walk, boundaries: string[], enc: BodyEncoder): AsyncGenerator<Buffer> {
  let first = true;
  let crlfAfter = false;
  for (;;) {
    const p = await w.reader.next();
    if (!p) break;
    if (delimiterOf(p, boundaries)) {
      w.reader.unread(p);
      break;
    }
    let out = '';
    if (p.start && !first) out += enc.lineBreak();
    first = false;
    out += enc.piece(p.data, p.start, p.end);
    crlfAfter = p.end && !p.last;
    if (out) yield Buffer.from(out, 'latin1');
  }
  const tail = enc.finish() + (crlfAfter ? '\r\n' : '');
  if (tail) yield Buffer.from(tail, 'latin1');
}

/** First pass: which leaves of the entity (header `fields`, canonical `body`) need re-encoding. */
export async function planSevenBit(fields: HeaderField[], body: AsyncIterable<Buffer>): Promise<SevenBitPlan> {
  const w: Walk = { reader: new LineReader(body), plan: null, decided: [] };
  for await (const chunk of walkEntity(w, { fields, raw: [] }, [])) void chunk;
  return w.decided;
}

/** Second pass: the entity (header `fields`, canonical `body`) with the planned leaves re-encoded, 7-bit safe. */
export async function* sevenBitStream(fields: HeaderField[], body: AsyncIterable<Buffer>, plan: SevenBitPlan): AsyncGenerator<Buffer> {
  const w: Walk = { reader: new LineReader(body), plan, decided: [] };
  yield* coalesce(walkEntity(w, { fields, raw: [Buffer.from(serializeHeader(fields) + '\r\n', 'latin1')] }, []));
}

/** The walk yields a line at a time; consumers (OpenPGP.js's streams above all) want slices of PIECE size. */
async function* coalesce(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const b of source) {
    parts.push(b);
    size += b.length;
    if (size >= PIECE) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

/** Everything a stream yields, as one buffer (small messages, tests). */
export async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of source) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A buffer as a stream of one chunk. */
export async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}
