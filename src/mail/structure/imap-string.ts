// Rendering of IMAP strings (RFC 3501 4.3, 9 "string" / "nstring"), the way
// Dovecot does it, so our pre-rendered ENVELOPE/BODYSTRUCTURE match the
// reference server: a quoted string when every byte is safe, otherwise a
// literal {n}\r\n<bytes> (CR, LF, NUL, 8-bit, or the quoted-specials).

/** Characters that force a literal: CR, LF, NUL and 8-bit (strings are latin1: one char per byte). */
function needsLiteral(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0 || c >= 0x80) return true;
  }
  return false;
}

function countSpecials(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) n++;
  }
  return n;
}

function literal(s: string): string {
  return `{${s.length}}\r\n` + s;
}

/**
 * "quoted" or {n}\r\n literal (strings are latin1-mapped byte strings). Like
 * Dovecot: quoted-specials are escaped, but from 4 of them on a literal is
 * shorter, so a literal is sent.
 */
export function imapString(value: string | Buffer): string {
  const text = typeof value === 'string' ? value : value.toString('latin1');
  if (needsLiteral(text)) return literal(text);
  const specials = countSpecials(text);
  if (specials >= 4) return literal(text);
  return '"' + (specials ? text.replace(/["\\]/g, (c) => '\\' + c) : text) + '"';
}

/** NIL for null, otherwise imapString. */
export function imapNString(value: string | Buffer | null | undefined): string {
  return value === null || value === undefined ? 'NIL' : imapString(value);
}

/**
 * Dovecot's "string for humans" (ENVELOPE subject and display names): CR/LF
 * are dropped, TABs become spaces, runs of spaces collapse, the ends are
 * trimmed, NUL becomes U+FFFD (UTF-8 bytes). A string that needed any of
 * that, or has quoted-specials or 8-bit bytes, is sent as a literal; an
 * empty result as "".
 */
export function imapHumanString(value: string | null): string {
  if (value === null) return 'NIL';
  const cleaned = value.replace(/[\r\n]/g, '').replace(/[\t ]+/g, ' ').trim().replace(/\0/g, '\xef\xbf\xbd');
  if (cleaned === '') return '""';
  if (cleaned !== value || needsLiteral(cleaned) || countSpecials(cleaned) > 0) return literal(cleaned);
  return '"' + cleaned + '"';
}
