// Small, byte-oriented MIME helpers for building and opening PGP/MIME
// (RFC 3156) and for the SMTP gateway's per-recipient copies. We work on the
// raw bytes rather than a decoded tree because signatures cover exact bytes.

export interface HeaderField {
  /** Field name as written. */
  name: string;
  /** Lower-cased name, for lookups. */
  key: string;
  /** Unfolded value without the leading whitespace after the colon. */
  value: string;
  /** The field exactly as it appeared, folded lines included, ending in CRLF. */
  raw: string;
}

const CRLF = Buffer.from('\r\n');

/**
 * Canonical forms already worked out, by input buffer. The fetch path asks
 * for the same message's canonical form several times (Autocrypt, opening,
 * attached keys): the scan runs once. Message buffers are values here, never
 * modified in place once read, so a remembered answer stays right.
 */
const canonicalOf = new WeakMap<Buffer, Buffer>();
/** Smaller buffers are scanned again rather than remembered. */
const REMEMBER_FROM = 4096;

/** Whether every line end is CRLF (no bare LF, no bare CR): native searches, no per-byte JS loop. */
export function isCRLF(buf: Buffer): boolean {
  for (let lf = buf.indexOf(0x0a); lf >= 0; lf = buf.indexOf(0x0a, lf + 1)) {
    if (lf === 0 || buf[lf - 1] !== 0x0d) return false;
  }
  for (let cr = buf.indexOf(0x0d); cr >= 0; cr = buf.indexOf(0x0d, cr + 1)) {
    if (buf[cr + 1] !== 0x0a) return false;
  }
  return true;
}

/**
 * Converts bare LF and bare CR line ends to CRLF (RFC 5322 §2.3, RFC 3156 §5
 * canonical form). Returns `buf` itself when it already is canonical.
 */
export function toCRLF(buf: Buffer): Buffer {
  const known = canonicalOf.get(buf);
  if (known) return known;
  const out = isCRLF(buf) ? buf : convertToCRLF(buf);
  if (buf.length >= REMEMBER_FROM) {
    canonicalOf.set(buf, out);
    if (out !== buf) canonicalOf.set(out, out);
  }
  return out;
}

function convertToCRLF(buf: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let start = 0;
  let lf = buf.indexOf(0x0a);
  let cr = buf.indexOf(0x0d);
  while (lf >= 0 || cr >= 0) {
    if (cr >= 0 && (lf < 0 || cr < lf)) {
      if (lf === cr + 1) {
        // CRLF already
        lf = buf.indexOf(0x0a, cr + 2);
        cr = buf.indexOf(0x0d, cr + 2);
        continue;
      }
      chunks.push(buf.subarray(start, cr), CRLF); // bare CR
      start = cr + 1;
      cr = buf.indexOf(0x0d, start);
      continue;
    }
    chunks.push(buf.subarray(start, lf), CRLF); // bare LF
    start = lf + 1;
    lf = buf.indexOf(0x0a, start);
  }
  chunks.push(buf.subarray(start));
  return Buffer.concat(chunks);
}

/** Splits a message or MIME entity (CRLF form) into its header block (without the blank line) and body. */
export function splitEntity(raw: Buffer): { header: Buffer; body: Buffer } {
  if (raw.subarray(0, 2).equals(CRLF)) return { header: Buffer.alloc(0), body: raw.subarray(2) };
  const idx = raw.indexOf('\r\n\r\n');
  if (idx < 0) return { header: raw, body: Buffer.alloc(0) };
  return { header: raw.subarray(0, idx + 2), body: raw.subarray(idx + 4) };
}

/** Parses a header block (CRLF form) into fields, keeping each field's exact text. */
export function parseHeader(header: Buffer | string): HeaderField[] {
  const text = typeof header === 'string' ? header : header.toString('latin1');
  const lines = text.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const fields: HeaderField[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) {
      const f = fields[fields.length - 1];
      f.raw += line + '\r\n';
      f.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    fields.push({ name, key: name.toLowerCase(), value: line.slice(colon + 1), raw: line + '\r\n' });
  }
  for (const f of fields) f.value = f.value.replace(/\r\n/g, '').trim();
  return fields;
}

export function headerValue(fields: HeaderField[], name: string): string | undefined {
  const key = name.toLowerCase();
  return fields.find((f) => f.key === key)?.value;
}

export function headerValues(fields: HeaderField[], name: string): string[] {
  const key = name.toLowerCase();
  return fields.filter((f) => f.key === key).map((f) => f.value);
}

export function serializeHeader(fields: HeaderField[]): string {
  return fields.map((f) => f.raw).join('');
}

/** A new header field, folded at whitespace so no line exceeds 78 characters where possible (RFC 5322 §2.2.3). */
export function makeField(name: string, value: string): HeaderField {
  const words = value.split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > 76 && line.length > name.length + 1) {
      lines.push(line);
      line = ` ${w}`;
    } else line += ` ${w}`;
  }
  lines.push(line);
  return { name, key: name.toLowerCase(), value, raw: lines.join('\r\n') + '\r\n' };
}

export interface ContentType {
  /** Lower-cased type/subtype, e.g. 'multipart/signed'. */
  mime: string;
  /** Parameters with lower-cased names. */
  params: Record<string, string>;
}

/** Parses a Content-Type value (RFC 2045 §5.1), quoted strings included. */
export function parseContentType(value: string | undefined): ContentType {
  if (!value) return { mime: 'text/plain', params: { charset: 'us-ascii' } };
  const parts = splitParams(value);
  const mime = (parts.shift() ?? 'text/plain').trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const k = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params[k] = v;
  }
  return { mime, params };
}

function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && quoted) { cur += c + (value[i + 1] ?? ''); i++; continue; }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * The body parts of a multipart body, exact bytes. Per RFC 2046 §5.1.1 the
 * CRLF before a delimiter line belongs to the delimiter, not the part. A
 * delimiter is a line starting "--boundary", then optionally "--" (the close
 * delimiter), then only spaces or tabs. The search goes from one
 * "--boundary" to the next (native search), not line by line.
 */
export function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let partStart = -1;
  let at = body.indexOf(delim);
  while (at >= 0) {
    const lineStart = at === 0 || (body[at - 2] === 0x0d && body[at - 1] === 0x0a);
    const lineEnd = lineStart ? body.indexOf(CRLF, at + delim.length) : -1;
    const end = lineEnd < 0 ? body.length : lineEnd;
    const close = lineStart ? isDelimiterRest(body, at + delim.length, end) : null;
    if (close === null) {
      at = body.indexOf(delim, at + 1);
      continue;
    }
    if (partStart >= 0) parts.push(body.subarray(partStart, Math.max(partStart, at - 2)));
    if (close) return parts;
    partStart = end + 2;
    if (lineEnd < 0) break;
    at = body.indexOf(delim, lineEnd + 2);
  }
  if (partStart >= 0 && partStart <= body.length) parts.push(body.subarray(partStart));
  return parts;
}

/** What follows "--boundary" on a delimiter line: true for "--" (close), false for nothing; then only blanks. Null: not a delimiter. */
function isDelimiterRest(body: Buffer, from: number, end: number): boolean | null {
  const close = end - from >= 2 && body[from] === 0x2d && body[from + 1] === 0x2d;
  for (let i = close ? from + 2 : from; i < end; i++) {
    if (body[i] !== 0x20 && body[i] !== 0x09) return null;
  }
  return close;
}

const CONTENT_FIELD = (key: string): boolean => key.startsWith('content-') || key === 'mime-version';

/** Header fields that describe the content (Content-*, MIME-Version) versus the routing/envelope ones. */
export function partitionContentFields(fields: HeaderField[]): { content: HeaderField[]; other: HeaderField[] } {
  return {
    content: fields.filter((f) => CONTENT_FIELD(f.key)),
    other: fields.filter((f) => !CONTENT_FIELD(f.key)),
  };
}

export function randomBoundary(prefix: string): string {
  return `${prefix}-${Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('hex')}`;
}

/** True when every byte is 7-bit, non-NUL, and no line exceeds 998 octets (RFC 5322 §2.1.1). */
export function is7bitSafe(body: Buffer): boolean {
  let lineLen = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c > 0x7e && c !== 0x7f) return false;
    if (c === 0) return false;
    if (c === 0x0a) lineLen = 0;
    else if (++lineLen > 998) return false;
  }
  return true;
}

/** Quoted-printable (RFC 2045 §6.7) of CRLF text; line breaks stay hard breaks, trailing whitespace encoded. */
export function encodeQuotedPrintable(body: Buffer): string {
  const out: string[] = [];
  const lines = body.toString('latin1').split('\r\n');
  for (const line of lines) {
    let cur = '';
    const bytes = Buffer.from(line, 'latin1');
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      const last = i === bytes.length - 1;
      let enc: string;
      if ((c === 0x20 || c === 0x09) && last) enc = `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      else if ((c >= 33 && c <= 126 && c !== 61) || c === 0x20 || c === 0x09) enc = String.fromCharCode(c);
      else enc = `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      // A line starting with "From " or "." can be mangled by relays; encode the first char.
      if (cur.length === 0 && (c === 0x2e || (c === 0x46 && line.startsWith('From ')))) enc = `=${c.toString(16).toUpperCase()}`;
      if (cur.length + enc.length > 75) { out.push(cur + '='); cur = ''; }
      cur += enc;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

export function encodeBase64Lines(body: Buffer): string {
  const b64 = body.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\r\n');
}

/**
 * Rewrites an entity (CRLF form) so every leaf part is 7-bit safe: 8bit or
 * binary leaves become quoted-printable (text) or base64 (others). Multipart
 * containers are walked recursively; everything already safe stays byte-exact.
 * Needed so a signature survives relays that downgrade 8BITMIME (RFC 3156 §3).
 */
export function make7bitSafe(entity: Buffer, level = 1): Buffer {
  const { header, body } = splitEntity(entity);
  const fields = parseHeader(header);
  const ct = parseContentType(headerValue(fields, 'content-type'));
  if (ct.mime.startsWith('multipart/') && ct.params.boundary) {
    // The streaming walk's nesting limit (MAX_NESTING in mime-seven-bit.ts): a multipart at level 100 stays as it is.
    if (level >= 100) return entity;
    const parts = splitMultipart(body, ct.params.boundary);
    const safe = parts.map((p) => make7bitSafe(p, level + 1));
    if (safe.every((p, i) => p === parts[i])) return entity;
    return rebuildMultipart(header, body, ct.params.boundary, safe);
  }
  if (ct.mime === 'message/rfc822') return entity;
  const cte = (headerValue(fields, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if ((cte === 'quoted-printable' || cte === 'base64') || is7bitSafe(body)) return entity;
  const useQp = ct.mime.startsWith('text/');
  const encoded = useQp ? encodeQuotedPrintable(body) : encodeBase64Lines(body);
  const kept = fields.filter((f) => f.key !== 'content-transfer-encoding');
  kept.push(makeField('Content-Transfer-Encoding', useQp ? 'quoted-printable' : 'base64'));
  return Buffer.concat([Buffer.from(serializeHeader(kept) + '\r\n', 'latin1'), Buffer.from(encoded, 'latin1')]);
}

function rebuildMultipart(header: Buffer, body: Buffer, boundary: string, parts: Buffer[]): Buffer {
  // Keep the preamble and epilogue as they were.
  const first = body.indexOf(`--${boundary}`);
  const preamble = first > 0 ? body.subarray(0, first) : Buffer.alloc(0);
  const closeIdx = body.lastIndexOf(`--${boundary}--`);
  const epilogue = closeIdx >= 0 ? body.subarray(closeIdx + boundary.length + 4) : Buffer.from('\r\n');
  const chunks: Buffer[] = [header, CRLF, preamble];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\n`), p, CRLF);
  chunks.push(Buffer.from(`--${boundary}--`), epilogue);
  return Buffer.concat(chunks);
}

/** Plain addresses (lower-cased) out of address-list header values; display names and groups ignored. */
export function extractAddresses(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const m of v.matchAll(/<([^<>\s]+@[^<>\s]+)>|(?:^|[\s,:;])([^\s<>,;:"()]+@[^\s<>,;:"()]+)/g)) {
      out.push((m[1] ?? m[2]).toLowerCase());
    }
  }
  return [...new Set(out)];
}
