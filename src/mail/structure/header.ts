// RFC 5322 header blocks: split into fields (unfolded), and parse MIME
// header values (RFC 2045 5.1 Content-Type, RFC 2183 Content-Disposition,
// RFC 2231 parameter continuations). All strings here are "binary strings"
// (latin1: one char per byte) so that 8-bit bytes survive untouched.

export interface HeaderField {
  /** Field name as written (not lower-cased). */
  name: string;
  /** Unfolded value: CRLF/LF removed, leading whitespace trimmed, trailing CR/WSP kept out. */
  value: string;
  /** The value as written, line breaks of folding kept (leading whitespace trimmed). */
  folded: string;
}

/** Splits a header block (latin1 string) into fields; a line without ':' continues nothing and is skipped. */
export function parseHeaderFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  const lines = block.split('\n');
  let current: { name: string; parts: string[] } | null = null;
  const flush = () => {
    if (current) {
      const value = current.parts.join('').replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
      const folded = current.parts.length > 1 ? current.parts.join('\r\n').replace(/^[ \t]+/, '').replace(/[ \t]+$/, '') : value;
      fields.push({ name: current.name, value, folded });
    }
    current = null;
  };
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') {
      flush();
      continue;
    }
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      if (current) current.parts.push(line);
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).replace(/[ \t]+$/, '');
    if (name === '') continue;
    current = { name, parts: [line.slice(colon + 1)] };
  }
  flush();
  return fields;
}

/** Value of the first field with this (case-insensitive) name, or null. */
export function firstField(fields: HeaderField[], name: string): string | null {
  const lower = name.toLowerCase();
  for (const f of fields) if (f.name.toLowerCase() === lower) return f.value;
  return null;
}

// ---- RFC 822 tokenizer for structured MIME values ----

const TSPECIALS = '()<>@,;:\\"/[]?=';

/** Skips whitespace and (nested) comments. */
function skipCfws(s: string, i: number): number {
  for (;;) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\r' || s[i] === '\n')) i++;
    if (s[i] !== '(') return i;
    let depth = 0;
    while (i < s.length) {
      const c = s[i]!;
      if (c === '\\') i += 2;
      else {
        if (c === '(') depth++;
        else if (c === ')') depth--;
        i++;
        if (depth === 0) break;
      }
    }
  }
}

function readToken(s: string, i: number): { value: string; end: number } {
  let end = i;
  while (end < s.length) {
    const c = s[end]!;
    if (c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f || TSPECIALS.includes(c)) break;
    end++;
  }
  return { value: s.slice(i, end), end };
}

function readQuoted(s: string, i: number): { value: string; end: number } {
  let out = '';
  i++;
  while (i < s.length && s[i] !== '"') {
    if (s[i] === '\\' && i + 1 < s.length) i++;
    if (s[i] !== '\r' && s[i] !== '\n') out += s[i];
    i++;
  }
  return { value: out, end: i + 1 };
}

export interface RawParam {
  /** As written (not lower-cased). */
  name: string;
  value: string;
}

/** Parses "; name=value" pairs from position i (RFC 2045 5.1); stops at garbage. */
function readParams(s: string, i: number): RawParam[] {
  const params: RawParam[] = [];
  for (;;) {
    i = skipCfws(s, i);
    if (i >= s.length) break;
    if (s[i] !== ';') {
      // garbage: skip to the next ';'
      const next = s.indexOf(';', i);
      if (next < 0) break;
      i = next;
    }
    i = skipCfws(s, i + 1);
    const name = readToken(s, i);
    if (name.value === '') continue;
    i = skipCfws(s, name.end);
    if (s[i] !== '=') continue;
    i = skipCfws(s, i + 1);
    let value: { value: string; end: number };
    if (s[i] === '"') value = readQuoted(s, i);
    else value = readToken(s, i);
    i = value.end;
    params.push({ name: name.value, value: value.value });
  }
  return params;
}

/**
 * Merges RFC 2231 continuations (name*0, name*1*, ...) the way Dovecot's
 * rfc2231_parse() does: extended (charset'lang'%xx) values keep their
 * encoding under the key "name*"; plain continuations are joined under "name".
 */
export function mergeRfc2231(params: RawParam[]): RawParam[] {
  const out: RawParam[] = [];
  const groups = new Map<string, { parts: Map<number, { value: string; extended: boolean }>; pos: number }>();
  for (const p of params) {
    const m = /^(.*?)\*(\d+)(\*?)$/.exec(p.name);
    if (!m) {
      out.push(p);
      continue;
    }
    const base = m[1]!;
    let g = groups.get(base);
    if (!g) {
      g = { parts: new Map(), pos: out.length };
      groups.set(base, g);
      out.push({ name: '', value: '' }); // placeholder keeps the position
    }
    g.parts.set(Number(m[2]), { value: p.value, extended: m[3] === '*' });
  }
  for (const [base, g] of groups) {
    const idx = [...g.parts.keys()].sort((a, b) => a - b);
    const extended = g.parts.get(0)?.extended ?? false;
    let value = '';
    for (let n = 0; n < idx.length && g.parts.has(n); n++) {
      const part = g.parts.get(n)!;
      // pieces are joined as written, even a plain piece inside an extended value (as Dovecot does)
      value += part.value;
    }
    out[g.pos] = { name: extended ? base + '*' : base, value };
  }
  // Dovecot's rfc2231_parse() lists the merged continuations after the plain parameters
  const merged = [...groups.values()].map((g) => out[g.pos]!);
  const plain = out.filter((p, idx) => p.name !== '' && ![...groups.values()].some((g) => g.pos === idx));
  return [...plain, ...merged];
}

export interface ContentType {
  /** Type and subtype as written (Dovecot reports them verbatim). */
  type: string;
  subtype: string;
  /** Parameters as Dovecot reports them in BODYSTRUCTURE (RFC 2231 merged, still encoded). */
  params: RawParam[];
  /** False when the header was absent or unparseable (defaults applied). */
  valid: boolean;
}

/** Parses a Content-Type value; null when it has no valid type/subtype. */
export function parseContentType(value: string | null): ContentType | null {
  if (value === null) return null;
  let i = skipCfws(value, 0);
  const type = readToken(value, i);
  i = skipCfws(value, type.end);
  if (type.value === '' || value[i] !== '/') return null;
  i = skipCfws(value, i + 1);
  const subtype = readToken(value, i);
  if (subtype.value === '') return null;
  return {
    type: type.value,
    subtype: subtype.value,
    params: mergeRfc2231(readParams(value, subtype.end)),
    valid: true,
  };
}

/** Parses a Content-Disposition value (RFC 2183): disposition type and params. */
export function parseDisposition(value: string | null): { type: string; params: RawParam[] } | null {
  if (value === null) return null;
  const i = skipCfws(value, 0);
  if (i >= value.length) return null;
  // "Content-Disposition: ; filename=x": Dovecot reports an empty type with the parameters
  const type = readToken(value, i);
  return { type: type.value, params: mergeRfc2231(readParams(value, type.end)) };
}

/** Content-Language (RFC 3282): a list of language tags, or null. */
export function parseLanguage(value: string | null): string[] | null {
  if (value === null) return null;
  const tags = value
    .replace(/\([^)]*\)/g, ' ')
    .split(/[\s,]+/)
    .filter((t) => t !== '');
  return tags.length ? tags : null;
}

/** A single token-ish header value (Content-Transfer-Encoding, Content-ID...): trimmed, comments removed. */
export function simpleValue(value: string | null): string | null {
  if (value === null) return null;
  const i = skipCfws(value, 0);
  return value.slice(i).trim();
}
