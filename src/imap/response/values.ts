// Values of IMAP responses (RFC 3501 4, 7) and their serialization. Responses
// are built from these, never by concatenating strings, so that quoting and the
// quoted-vs-literal choice are always right. A serialized response is a list of
// pieces: bytes, or a literal whose body is streamed from a Readable.
import type { Readable } from 'node:stream';

export type ImapValue =
  | { kind: 'atom'; text: string }
  | { kind: 'number'; value: number }
  | { kind: 'nil' }
  | { kind: 'string'; value: Buffer | string; literal?: boolean }
  | { kind: 'list'; items: ImapValue[] }
  /** Pre-rendered IMAP syntax (e.g. an ENVELOPE stored with the message). */
  | { kind: 'raw'; text: string | Buffer }
  /** A literal of exactly `size` bytes streamed from `source` (~{n} when binary, RFC 3516). */
  | { kind: 'stream'; size: number; source: () => Readable; binary?: boolean };

export const atom = (text: string): ImapValue => ({ kind: 'atom', text });
export const num = (value: number): ImapValue => ({ kind: 'number', value });
export const NIL: ImapValue = { kind: 'nil' };
/** A string: quoted when it can be, a literal otherwise. */
export const str = (value: Buffer | string): ImapValue => ({ kind: 'string', value });
/** A string forced to literal form. */
export const literal = (value: Buffer | string): ImapValue => ({ kind: 'string', value, literal: true });
/** A string or NIL. */
export const nstr = (value: Buffer | string | null | undefined): ImapValue => (value == null ? NIL : str(value));
export const list = (items: ImapValue[]): ImapValue => ({ kind: 'list', items });
export const raw = (text: string | Buffer): ImapValue => ({ kind: 'raw', text });
export const streamed = (size: number, source: () => Readable, binary = false): ImapValue => ({ kind: 'stream', size, source, binary });

/** A response code inside [ ] (RFC 3501 7.1): `[UIDNEXT 5]`, `[PERMANENTFLAGS (\Seen)]`. */
export interface ResponseCode {
  name: string;
  args?: ImapValue[];
}

export type Piece = Buffer | { size: number; source: () => Readable };

export interface SerializeOptions {
  /** UTF8=ACCEPT enabled (RFC 6855): 8-bit text may be sent in quoted strings. */
  utf8: boolean;
}

/** Longest string we send quoted; longer ones become literals (easier on clients). */
const MAX_QUOTED = 1024;

function canQuote(bytes: Buffer, utf8: boolean): boolean {
  if (bytes.length > MAX_QUOTED) return false;
  for (const b of bytes) {
    if (b === 0x0d || b === 0x0a || b === 0) return false;
    if (b >= 0x80 && !utf8) return false;
  }
  return true;
}

export class PieceBuilder {
  private readonly pieces: Piece[] = [];
  private text: Buffer[] = [];
  /** Consecutive string parts (atoms, numbers, parentheses) become one Buffer, not one each. */
  private pending = '';

  constructor(private readonly opts: SerializeOptions) {}

  push(s: string | Buffer): void {
    if (typeof s === 'string') {
      this.pending += s;
      return;
    }
    this.flushPending();
    this.text.push(s);
  }

  private flushPending(): void {
    if (this.pending === '') return;
    this.text.push(Buffer.from(this.pending, 'utf8'));
    this.pending = '';
  }

  value(v: ImapValue): void {
    switch (v.kind) {
      case 'atom':
        this.push(v.text);
        return;
      case 'number':
        this.push(String(v.value));
        return;
      case 'nil':
        this.push('NIL');
        return;
      case 'raw':
        this.push(v.text);
        return;
      case 'string': {
        const bytes = typeof v.value === 'string' ? Buffer.from(v.value, 'utf8') : v.value;
        if (!v.literal && canQuote(bytes, this.opts.utf8)) {
          const quoted: number[] = [0x22];
          for (const b of bytes) {
            if (b === 0x22 || b === 0x5c) quoted.push(0x5c);
            quoted.push(b);
          }
          quoted.push(0x22);
          this.push(Buffer.from(quoted));
        } else {
          this.push(`{${bytes.length}}\r\n`);
          this.push(bytes);
        }
        return;
      }
      case 'list':
        this.push('(');
        v.items.forEach((item, i) => {
          if (i > 0) this.push(' ');
          this.value(item);
        });
        this.push(')');
        return;
      case 'stream':
        this.push(`${v.binary ? '~' : ''}{${v.size}}\r\n`);
        this.flushText();
        this.pieces.push({ size: v.size, source: v.source });
        return;
    }
  }

  values(vs: ImapValue[]): void {
    vs.forEach((v, i) => {
      if (i > 0) this.push(' ');
      this.value(v);
    });
  }

  code(code: ResponseCode | undefined): void {
    if (!code) return;
    this.push('[' + code.name);
    if (code.args && code.args.length > 0) {
      this.push(' ');
      this.values(code.args);
    }
    this.push('] ');
  }

  private flushText(): void {
    this.flushPending();
    if (this.text.length > 0) this.pieces.push(this.text.length === 1 ? this.text[0]! : Buffer.concat(this.text));
    this.text = [];
  }

  finish(): Piece[] {
    this.push('\r\n');
    this.flushText();
    return this.pieces;
  }
}

/** Status text may not contain CR/LF; keep it short and single-line. */
export function cleanText(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ').slice(0, 512);
}
