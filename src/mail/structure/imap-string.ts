// Rendering of IMAP strings (RFC 3501 4.3, 9 "string" / "nstring"), the way
// Dovecot does it, so our pre-rendered ENVELOPE/BODYSTRUCTURE match the
// reference server: a quoted string when every byte is safe, otherwise a
// literal {n}\r\n<bytes> (CR, LF, NUL, 8-bit, or the quoted-specials).

/** Bytes that force a literal: CR, LF, NUL and 8-bit. */
function needsLiteral(s: Buffer): boolean {
  for (const b of s) if (b === 0x0d || b === 0x0a || b === 0 || b >= 0x80) return true;
  return false;
}

function countSpecials(s: Buffer): number {
  let n = 0;
  for (const b of s) if (b === 0x22 || b === 0x5c) n++;
  return n;
}

function literal(buf: Buffer): string {
  return `{${buf.length}}\r\n` + buf.toString('latin1');
}

/**
 * "quoted" or {n}\r\n literal (strings are latin1-mapped byte strings). Like
 * Dovecot: quoted-specials are escaped, but from 4 of them on a literal is
 * shorter, so a literal is sent.
 */
export function imapString(value: string | Buffer): string {
  const buf = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (needsLiteral(buf)) return literal(buf);
  const specials = countSpecials(buf);
  if (specials >= 4) return literal(buf);
  const text = buf.toString('latin1');
  return '"' + (specials ? text.replace(/["\\]/g, (c) => '\\' + c) : text) + '"';
}

/** NIL for null, otherwise imapString. */
export function imapNString(value: string | Buffer | null | undefined): string {
  return value === null || value === undefined ? 'NIL' : imapString(value);
}

/**
 * Dovecot's "string for humans" (ENVELOPE subject and display names): CR/LF
 * are dropped, TABs become spaces, runs of spaces collapse, the ends are
 * trimmed. A string that needed any of that, or has quoted-specials or 8-bit
 * bytes, is sent as a literal; an empty result as "".
 */
export function imapHumanString(value: string | null): string {
  if (value === null) return 'NIL';
  const cleaned = value.replace(/[\r\n]/g, '').replace(/[\t ]+/g, ' ').trim().replace(/\0/g, '\x80');
  if (cleaned === '') return '""';
  const buf = Buffer.from(cleaned, 'latin1');
  if (cleaned !== value || needsLiteral(buf) || countSpecials(buf) > 0) return literal(buf);
  return '"' + cleaned + '"';
}
