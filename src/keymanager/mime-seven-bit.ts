// The streaming 7-bit re-encoding that keeps a signature valid through relays
// (RFC 3156 §3). It walks the MIME structure line by line in two passes over a
// re-readable source: the first decides which leaf parts need re-encoding
// (that changes their header, which comes before the body), the second
// writes. make7bitSafe in mime.ts is the in-memory reference; the tests hold
// both to the same bytes.
import { headerValue, makeField, parseContentType, parseHeader, serializeHeader, type HeaderField } from './mime.js';
import { HEADER_MAX, LineReader, MimeLimitError, OutputQueue, bytesOf, delimiterOf, type Piece } from './mime-lines.js';
import { Base64Lines, QuotedPrintable, type BodyEncoder } from './transfer-encoders.js';

export type SevenBitEncoding = 'quoted-printable' | 'base64' | null;
/** Per leaf part, in document order: the transfer encoding it is rewritten to, or null for unchanged. */
export type SevenBitPlan = SevenBitEncoding[];

interface Walk {
  reader: LineReader;
  /** null while planning. */
  plan: SevenBitPlan | null;
  decided: SevenBitPlan;
  /** Where the entity is written; null while planning (nothing is written). */
  out: OutputQueue | null;
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

/**
 * Nesting levels walked, the root the first (Dovecot's max_nested_mime_parts,
 * 100, as src/mail/structure/splitter.ts counts it): a multipart at the last
 * level passes unchanged, as one opaque body. The walk's cost per line grows
 * with the levels open (delimiter checks), so hostile nesting stays bounded.
 */
export const MAX_NESTING = 100;

const emit = (w: Walk, b: Buffer): void => w.out?.push(b);
const emitAll = (w: Walk, bs: Buffer[]): void => {
  if (w.out) for (const b of bs) w.out.push(b);
};

async function walkEntity(w: Walk, e: Entity, boundaries: string[]): Promise<void> {
  const ct = parseContentType(headerValue(e.fields, 'content-type'));
  if (ct.mime.startsWith('multipart/') && ct.params.boundary) {
    emitAll(w, e.raw);
    // A multipart cannot take a transfer encoding (RFC 2045 §6.4): too deep, it stays as it is.
    if (boundaries.length >= MAX_NESTING - 1) await passBody(w, boundaries, null);
    else await walkMultipart(w, ct.params.boundary, boundaries);
    return;
  }
  if (ct.mime === 'message/rfc822') {
    emitAll(w, e.raw);
    await passBody(w, boundaries, null);
    return;
  }
  const index = w.decided.length;
  w.decided.push(null);
  const cte = (headerValue(e.fields, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable' || cte === 'base64') {
    emitAll(w, e.raw);
    await passBody(w, boundaries, null);
    return;
  }
  if (!w.plan) {
    const scan = { safe: true, lineLength: 0 };
    emitAll(w, e.raw);
    await passBody(w, boundaries, scan);
    w.decided[index] = scan.safe ? null : ct.mime.startsWith('text/') ? 'quoted-printable' : 'base64';
    return;
  }
  const encoding = w.plan[index] ?? null;
  w.decided[index] = encoding;
  if (!encoding) {
    emitAll(w, e.raw);
    await passBody(w, boundaries, null);
    return;
  }
  const kept = e.fields.filter((f) => f.key !== 'content-transfer-encoding');
  kept.push(makeField('Content-Transfer-Encoding', encoding));
  emit(w, Buffer.from(serializeHeader(kept) + '\r\n', 'latin1'));
  await encodeBody(w, boundaries, encoding === 'base64' ? new Base64Lines() : new QuotedPrintable());
}

async function walkMultipart(w: Walk, boundary: string, outer: string[]): Promise<void> {
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
    emitAll(w, bytesOf(p));
    if (!d || epilogue) continue;
    if (d.close) {
      epilogue = true;
      continue;
    }
    for (;;) {
      await walkEntity(w, await readPartHeader(w, boundaries), boundaries);
      const q = await w.reader.next();
      if (!q) return;
      const next = delimiterOf(q, boundaries);
      if (!next || next.index < own) {
        w.reader.unread(q);
        return;
      }
      emitAll(w, bytesOf(q));
      if (next.close) break;
    }
    epilogue = true;
  }
}

/** A body unchanged, up to the next delimiter of an enclosing multipart; `scan` learns whether it is 7-bit safe. */
async function passBody(w: Walk, boundaries: string[], scan: { safe: boolean; lineLength: number } | null): Promise<void> {
  for (;;) {
    const run = await w.reader.run();
    if (run) {
      if (scan?.safe) scan.safe = is7bitLines(run);
      emit(w, run);
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
    emitAll(w, bytesOf(p));
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
async function encodeBody(w: Walk, boundaries: string[], enc: BodyEncoder): Promise<void> {
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
    if (out) emit(w, Buffer.from(out, 'latin1'));
  }
  const tail = enc.finish() + (crlfAfter ? '\r\n' : '');
  if (tail) emit(w, Buffer.from(tail, 'latin1'));
}

/** First pass: which leaves of the entity (header `fields`, canonical `body`) need re-encoding. */
export async function planSevenBit(fields: HeaderField[], body: AsyncIterable<Buffer>): Promise<SevenBitPlan> {
  const w: Walk = { reader: new LineReader(body), plan: null, decided: [], out: null };
  await walkEntity(w, { fields, raw: [] }, []);
  return w.decided;
}

/**
 * Second pass: the entity (header `fields`, canonical `body`) with the
 * planned leaves re-encoded, 7-bit safe, in slices of about PIECE bytes
 * (what consumers, OpenPGP.js's streams above all, want).
 */
export async function* sevenBitStream(fields: HeaderField[], body: AsyncIterable<Buffer>, plan: SevenBitPlan): AsyncGenerator<Buffer> {
  const out = new OutputQueue();
  const w: Walk = { reader: new LineReader(out.gate(body)), plan, decided: [], out };
  const head = Buffer.from(serializeHeader(fields) + '\r\n', 'latin1');
  void walkEntity(w, { fields, raw: [head] }, []).then(
    () => out.end(),
    (err: unknown) => out.end(err),
  );
  try {
    for (let slice = await out.next(); slice; slice = await out.next()) yield slice;
  } finally {
    out.abandon();
  }
}
