// Rendering of IMAP strings (RFC 3501 4.3, 9 "string" / "nstring"), the way
// Dovecot does it, so our pre-rendered ENVELOPE/BODYSTRUCTURE match the
// reference server: a quoted string when every byte is safe, otherwise a
// literal {n}\r\n<bytes> (CR, LF, NUL, 8-bit, or the quoted-specials).

/** True when `s` can be sent as a quoted string without escapes. */
function quotable(s: Buffer): boolean {
  for (const b of s) {
    if (b === 0x0d || b === 0x0a || b === 0 || b >= 0x80 || b === 0x22 || b === 0x5c) return false;
  }
  return true;
}

/** "quoted" or {n}\r\n literal; strings are latin1-mapped byte strings. */
export function imapString(value: string | Buffer): string {
  const buf = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (quotable(buf)) return '"' + buf.toString('latin1') + '"';
  return `{${buf.length}}\r\n` + buf.toString('latin1');
}

/** NIL for null, otherwise imapString. */
export function imapNString(value: string | Buffer | null | undefined): string {
  return value === null || value === undefined ? 'NIL' : imapString(value);
}

/**
 * Dovecot's "string for humans" (ENVELOPE subject and display names): TABs
 * become spaces, runs of spaces collapse, leading/trailing space is trimmed,
 * CR/LF are dropped (unfolding).
 */
export function imapHumanString(value: string | null): string {
  if (value === null) return 'NIL';
  const cleaned = value.replace(/[\r\n]/g, '').replace(/[\t ]+/g, ' ').trim();
  return imapString(cleaned);
}
