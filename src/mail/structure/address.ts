// RFC 5322 3.4 address lists (with group syntax and obsolete routes), parsed
// leniently into the IMAP ENVELOPE address structure (RFC 3501 7.4.2):
// (name adl mailbox host); a group is bracketed by (NIL NIL "group" NIL) and
// (NIL NIL NIL NIL). Strings stay raw (encoded words are not decoded), as
// Dovecot reports them; broken input yields a best effort, never an error.

export interface ImapAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** Dovecot's placeholders for an address without a local part / domain. */
export const MISSING_MAILBOX = 'MISSING_MAILBOX';
export const MISSING_DOMAIN = 'MISSING_DOMAIN';

const SPECIALS = '()<>[]:;@\\,."';

interface Word {
  text: string;
  quoted: boolean;
}

class Scanner {
  pos = 0;
  /** Text of the last comment seen (used as a display name fallback). */
  lastComment: string | null = null;
  constructor(readonly s: string) {}

  skipCfws(): void {
    const s = this.s;
    for (;;) {
      while (this.pos < s.length && ' \t\r\n'.includes(s[this.pos]!)) this.pos++;
      if (s[this.pos] !== '(') return;
      let depth = 0;
      let text = '';
      while (this.pos < s.length) {
        const c = s[this.pos]!;
        if (c === '\\' && this.pos + 1 < s.length) {
          text += s[this.pos + 1];
          this.pos += 2;
          continue;
        }
        this.pos++;
        if (c === '(') {
          if (depth > 0) text += c;
          depth++;
        } else if (c === ')') {
          depth--;
          if (depth === 0) break;
          text += c;
        } else text += c;
      }
      this.lastComment = text.trim();
    }
  }

  peek(): string | undefined {
    this.skipCfws();
    return this.s[this.pos];
  }

  /** An atom (dots allowed, as in obs-phrase and dot-atom) or a quoted string. */
  word(): Word | null {
    this.skipCfws();
    const s = this.s;
    if (s[this.pos] === '"') {
      let out = '';
      this.pos++;
      while (this.pos < s.length && s[this.pos] !== '"') {
        if (s[this.pos] === '\\' && this.pos + 1 < s.length) this.pos++;
        if (s[this.pos] !== '\r' && s[this.pos] !== '\n') out += s[this.pos];
        this.pos++;
      }
      this.pos++;
      return { text: out, quoted: true };
    }
    const start = this.pos;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '.' || !(SPECIALS.includes(c) || c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f)) this.pos++;
      else break;
    }
    return this.pos > start ? { text: s.slice(start, this.pos), quoted: false } : null;
  }

  /** Words until a special that is not part of a phrase. */
  phrase(): Word[] {
    const words: Word[] = [];
    for (;;) {
      const w = this.word();
      if (!w) break;
      words.push(w);
    }
    return words;
  }

  /** Domain after '@': dot-atom (obs-domain: CFWS around the dots) or domain literal [..]. */
  domain(): string {
    this.skipCfws();
    const s = this.s;
    if (s[this.pos] === '[') {
      const end = s.indexOf(']', this.pos);
      const stop = end < 0 ? s.length : end + 1;
      const lit = s.slice(this.pos, stop);
      this.pos = stop;
      return lit;
    }
    let out = '';
    for (;;) {
      const w = this.word();
      if (!w) break;
      out += w.text;
      // words continue the domain only across a dot
      if (!out.endsWith('.') && this.peek() !== '.') break;
    }
    return out;
  }
}

function joinPhrase(words: Word[]): string {
  return words.map((w) => w.text).join(' ');
}

function localPart(words: Word[]): string {
  return words.map((w) => w.text).join('');
}

/** Parses "<[route:]local@domain>" after the '<'. */
function angleAddr(sc: Scanner, name: string | null, out: ImapAddress[]): void {
  sc.pos++; // '<'
  let adl: string | null = null;
  if (sc.peek() === '@') {
    // obsolete route: @a,@b:
    const start = sc.pos;
    const colon = sc.s.indexOf(':', start);
    const close = sc.s.indexOf('>', start);
    if (colon >= 0 && (close < 0 || colon < close)) {
      adl = sc.s.slice(start, colon).replace(/\s+/g, '');
      sc.pos = colon + 1;
    }
  }
  const local = localPart(sc.phrase());
  let host: string | null = null;
  if (sc.peek() === '@') {
    sc.pos++;
    host = sc.domain();
  }
  // skip anything up to the closing '>'
  const close = sc.s.indexOf('>', sc.pos);
  sc.pos = close < 0 ? sc.s.length : close + 1;
  out.push({
    name,
    adl,
    mailbox: local === '' ? MISSING_MAILBOX : local,
    host: host === null || host === '' ? MISSING_DOMAIN : host,
  });
}

/** One mailbox (or group when allowGroup) starting at the scanner position. */
function mailboxOrGroup(sc: Scanner, out: ImapAddress[], allowGroup: boolean): void {
  sc.lastComment = null;
  const words = sc.phrase();
  const next = sc.peek();
  if (next === ':' && allowGroup) {
    sc.pos++;
    out.push({ name: null, adl: null, mailbox: joinPhrase(words), host: null });
    for (;;) {
      const c = sc.peek();
      if (c === undefined) break;
      if (c === ';') {
        sc.pos++;
        break;
      }
      if (c === ',') {
        sc.pos++;
        continue;
      }
      const before = sc.pos;
      mailboxOrGroup(sc, out, false);
      if (sc.pos === before) sc.pos++;
      const after = sc.peek();
      if (after !== ',' && after !== ';' && after !== undefined) break; // garbage: the list ends here
    }
    out.push({ name: null, adl: null, mailbox: null, host: null });
    return;
  }
  if (next === '<') {
    const name = words.length ? joinPhrase(words) : null;
    angleAddr(sc, name, out);
    return;
  }
  if (next === '@') {
    sc.pos++;
    const host = sc.domain();
    const comment = sc.lastComment;
    out.push({
      name: comment !== null && comment !== '' ? comment : null,
      adl: null,
      mailbox: words.length ? localPart(words) : MISSING_MAILBOX,
      host: host === '' ? MISSING_DOMAIN : host,
    });
    return;
  }
  if (words.length) {
    const comment = sc.lastComment;
    out.push({ name: comment !== null && comment !== '' ? comment : null, adl: null, mailbox: localPart(words), host: MISSING_DOMAIN });
  }
}

/**
 * Parses an address-list header value; never throws. Like Dovecot, parsing
 * stops at the first address that is not followed by a comma (the rest is
 * garbage, e.g. a header line glued on by bare-CR line ends).
 */
export function parseAddressList(value: string): ImapAddress[] {
  const sc = new Scanner(value);
  const out: ImapAddress[] = [];
  while (sc.pos < value.length) {
    const c = sc.peek();
    if (c === undefined) break;
    if (c === ',' || c === ';' || c === '>' || c === ':' || c === ')' || c === '\\' || c === ']' || c === '[' || c === '.') {
      sc.pos++;
      continue;
    }
    const before = sc.pos;
    mailboxOrGroup(sc, out, true);
    if (sc.pos === before) sc.pos++;
    const after = sc.peek();
    if (after !== ',' && after !== undefined) break;
  }
  return out;
}
