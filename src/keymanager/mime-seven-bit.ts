// The streaming 7-bit re-encoding that keeps a signature valid through relays
// (RFC 3156 §3). It walks the MIME structure line by line in two passes over a
// re-readable source: the first decides which leaf parts need re-encoding
// (that changes their header, which comes before the body), the second
// writes. make7bitSafe in mime.ts is the in-memory reference; the tests hold
// both to the same bytes.
import { headerValue, makeField, parseContentType, parseHeader, serializeHeader, type HeaderField } from './mime.js';
import { HEADER_MAX, LineReader, MimeLimitError, PIECE, bytesOf, delimiterOf, type Piece } from './mime-lines.js';
import { Base64Lines, QuotedPrintable, type BodyEncoder } from './transfer-encoders.js';

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

/** The next piece of the current part; null at the end of the input or at a delimiter line (left unread for the caller). */
async function nextInPart(w: Walk, boundaries: string[]): Promise<Piece | null> {
  const p = await w.reader.next();
  if (!p || !delimiterOf(p, boundaries)) return p;
  w.reader.unread(p);
  return null;
}

async function readPartHeader(w: Walk, boundaries: string[]): Promise<Entity> {
  const raw: Buffer[] = [];
  let text = '';
  let size = 0;
  for (;;) {
    const p = await nextInPart(w, boundaries);
    if (!p) break;
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
    const p = await nextInPart(w, boundaries);
    if (!p) return;
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
    const p = await nextInPart(w, boundaries);
    if (!p) break;
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
