// Turns one complete command frame (its text segments and the literals between
// them, as framed by CommandParser) into the token tree of tokens.ts, following
// the formal syntax of RFC 3501 9 (with LITERAL+ RFC 7888 and literal8 RFC 3516).
// It is deliberately not streaming: framing handles arbitrary chunking, so the
// tokenizer always sees whole commands.
import { bad } from '../errors.js';
import type { AtomToken, ParsedCommand, StringToken, Token } from './tokens.js';

/**
 * One command as framed from the wire: `texts[i]` is the text before literal i
 * (ending with its `{n}` marker) and `literals[i]` its bytes; the last text has
 * no literal after it.
 */
export interface CommandFrame {
  texts: Buffer[];
  literals: Array<{ data: Buffer; binary: boolean }>;
}

const SP = 0x20;
const LPAREN = 0x28;
const RPAREN = 0x29;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LT = 0x3c;
const TILDE = 0x7e;

/** Bytes that end an atom (besides SP and end of text). RFC 3501 atom-specials, minus those we accept in atoms. */
function endsAtom(c: number, inSection: boolean): boolean {
  if (c === SP || c === LPAREN || c === RPAREN || c === DQUOTE || c === LBRACE) return true;
  if (c < 0x20 || c === 0x7f) return true;
  return inSection && c === RBRACKET;
}

/** Matches a literal marker at the very end of a text segment. */
export const LITERAL_MARKER = /(~?)\{(\d{1,20})(\+?)\}$/;

class Cursor {
  seg = 0;
  pos = 0;
  constructor(readonly frame: CommandFrame) {}
  get text(): Buffer {
    return this.frame.texts[this.seg]!;
  }
  peek(): number | undefined {
    return this.pos < this.text.length ? this.text[this.pos] : undefined;
  }
  atEnd(): boolean {
    return this.pos >= this.text.length && this.seg === this.frame.texts.length - 1;
  }
}

export function tokenizeFrame(frame: CommandFrame): ParsedCommand {
  const c = new Cursor(frame);
  const tag = readBareWord(c, 'tag');
  if (tag === '' || tag.includes('+') || /[\x00-\x20(){%*"\\\]\x7f-\xff]/.test(tag)) throw bad('Invalid tag');
  expectSpace(c, 'command name');
  let name = readBareWord(c, 'command').toUpperCase();
  if (!/^[A-Z][A-Z0-9.\-]*$/.test(name)) throw bad('Invalid command name');
  if (name === 'UID') {
    expectSpace(c, 'UID command');
    const sub = readBareWord(c, 'UID command').toUpperCase();
    if (!/^[A-Z]+$/.test(sub)) throw bad('Invalid UID command');
    name = `UID ${sub}`;
  }
  const args = readTokens(c, 'top');
  return { tag, name, args };
}

/** Tag and command names: a run of non-space printable bytes. */
function readBareWord(c: Cursor, what: string): string {
  const start = c.pos;
  while (c.pos < c.text.length) {
    const b = c.text[c.pos]!;
    if (b === SP || b === LPAREN || b === RPAREN || b === LBRACE || b === DQUOTE || b < 0x20) break;
    c.pos++;
  }
  if (c.pos === start) throw bad(`Missing ${what}`);
  return c.text.toString('latin1', start, c.pos);
}

function expectSpace(c: Cursor, what: string): void {
  if (c.peek() !== SP) throw bad(`Expected space before ${what}`);
  c.pos++;
}

type Context = 'top' | 'list' | 'section';

function readTokens(c: Cursor, ctx: Context): Token[] {
  const out: Token[] = [];
  let first = true;
  for (;;) {
    const b = c.peek();
    if (b === undefined) {
      if (c.atEnd()) {
        if (ctx === 'top') return out;
        throw bad(ctx === 'list' ? 'Unterminated list' : 'Unterminated section');
      }
      throw bad('Malformed literal');
    }
    if (ctx === 'list' && b === RPAREN) {
      c.pos++;
      return out;
    }
    if (ctx === 'section' && b === RBRACKET) {
      c.pos++;
      return out;
    }
    if (ctx === 'top' || !first) {
      // Arguments are separated by exactly one space (RFC 3501 9); in lists the first item follows "(" directly.
      if (b !== SP) throw bad(b === RPAREN || b === RBRACKET ? `Unexpected "${String.fromCharCode(b)}"` : 'Expected space between arguments');
      c.pos++;
      if (c.peek() === undefined && c.atEnd()) throw bad('Trailing space');
    }
    first = false;
    out.push(readToken(c, ctx));
  }
}

function readToken(c: Cursor, ctx: Context): Token {
  const b = c.peek();
  if (b === undefined) throw bad('Missing argument');
  if (b === LPAREN) {
    c.pos++;
    return { type: 'list', items: readTokens(c, 'list') };
  }
  if (b === DQUOTE) return readQuoted(c);
  if (b === LBRACE || (b === TILDE && c.text[c.pos + 1] === LBRACE)) return readLiteral(c);
  if (b === SP) throw bad('Unexpected space');
  if (b === RPAREN) throw bad('Unexpected ")"');
  return readAtom(c, ctx === 'section');
}

function readQuoted(c: Cursor): StringToken {
  c.pos++;
  const bytes: number[] = [];
  const text = c.text;
  for (;;) {
    if (c.pos >= text.length) throw bad('Unterminated quoted string');
    const b = text[c.pos++]!;
    if (b === DQUOTE) break;
    if (b === BACKSLASH) {
      const e = text[c.pos++];
      // Only \" and \\ are valid escapes (RFC 3501 9, quoted-specials).
      if (e !== DQUOTE && e !== BACKSLASH) throw bad('Invalid escape in quoted string');
      bytes.push(e);
    } else if (b === 0x0d || b === 0x0a || b === 0) {
      throw bad('Invalid character in quoted string');
    } else {
      bytes.push(b);
    }
  }
  return { type: 'string', value: Buffer.from(bytes), form: 'quoted' };
}

function readLiteral(c: Cursor): StringToken {
  const rest = c.text.toString('latin1', c.pos);
  const m = LITERAL_MARKER.exec(rest);
  if (!m || m.index !== 0) throw bad('Literal marker must end the line');
  const lit = c.frame.literals[c.seg];
  if (!lit) throw bad('Missing literal data');
  c.seg++;
  c.pos = 0;
  return { type: 'string', value: lit.data, form: lit.binary ? 'literal8' : 'literal' };
}

function readAtom(c: Cursor, inSection: boolean): AtomToken {
  const start = c.pos;
  const text = c.text;
  while (c.pos < text.length) {
    const b = text[c.pos]!;
    if (b === LBRACKET) break;
    if (endsAtom(b, inSection)) break;
    c.pos++;
  }
  const value = text.toString('utf8', start, c.pos);
  if (c.peek() !== LBRACKET) {
    if (value === '') throw bad(`Unexpected character "${String.fromCharCode(c.peek() ?? 0x3f)}"`);
    return { type: 'atom', value };
  }
  // BODY[section]<partial> (RFC 3501 6.4.5) and friends: BINARY[...], BODY.PEEK[...].
  c.pos++;
  const section = readTokens(c, 'section');
  const token: AtomToken = { type: 'atom', value, section };
  if (c.peek() === LT) {
    const end = text.indexOf('>', c.pos);
    if (end < 0) throw bad('Unterminated partial');
    const m = /^<(\d{1,10})\.(\d{1,10})>$/.exec(text.toString('latin1', c.pos, end + 1));
    if (!m) throw bad('Invalid partial, expected <start.length>');
    token.partial = { start: Number(m[1]), length: Number(m[2]) };
    c.pos = end + 1;
  }
  if (c.pos < text.length && !endsAtom(text[c.pos]!, inSection)) throw bad('Unexpected data after section');
  return token;
}
