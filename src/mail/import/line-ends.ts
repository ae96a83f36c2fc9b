// An mbox file or a Maildir holds its messages with the local newline, LF on
// Unix: that is the file's convention, not the message's. On the wire and in
// IMAP a message's lines end in CRLF (RFC 5322 2.1, RFC 3501 2.2: RFC822.SIZE
// and BODY[] count CRLF), which is what Dovecot serves from the same files.
// So an imported message gets CR before every bare LF; a CRLF already there
// and every other byte (a lone CR too) stay as they are.

const LF = 0x0a;
const CR = 0x0d;

/** `raw` with each LF not preceded by CR turned into CRLF; `raw` itself when it has none. */
export function bareLfToCrlf(raw: Buffer): Buffer {
  let bare = 0;
  for (let i = raw.indexOf(LF); i !== -1; i = raw.indexOf(LF, i + 1)) if (i === 0 || raw[i - 1] !== CR) bare++;
  if (bare === 0) return raw;
  const out = Buffer.allocUnsafe(raw.length + bare);
  let from = 0;
  let to = 0;
  for (let i = raw.indexOf(LF); i !== -1; i = raw.indexOf(LF, i + 1)) {
    if (i > 0 && raw[i - 1] === CR) continue;
    to += raw.copy(out, to, from, i);
    out[to++] = CR;
    from = i; // the LF goes with the next segment
  }
  raw.copy(out, to, from);
  return out;
}
