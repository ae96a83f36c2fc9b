// Canonical (CRLF) MIME text read as lines for the streaming walks in
// mime-seven-bit.ts: long lines arrive in slices of at most PIECE bytes, so
// memory stays bounded whatever a line holds; plus the size limits shared
// with mime-stream.ts.

export const CRLF = Buffer.from('\r\n');
/** Longest slice of one line handed around; longer lines arrive in several. */
export const PIECE = 64 * 1024;
/** A header block larger than this is refused (no mail client writes one). */
export const HEADER_MAX = 1024 * 1024;

/** A message or part whose header block is unreasonably large. */
export class MimeLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MimeLimitError';
  }
}

/** One slice of a line. `end`: the line ends here; `last`: it is the stream's last line (no CRLF follows). */
export interface Piece {
  data: Buffer;
  start: boolean;
  end: boolean;
  last: boolean;
}

/** Canonical text as lines (CRLF removed), long lines in slices; one slice can be pushed back. */
export class LineReader {
  private buf = Buffer.alloc(0);
  private done = false;
  private finished = false;
  private midLine = false;
  private readonly back: Piece[] = [];
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  unread(p: Piece): void {
    this.back.push(p);
  }

  /**
   * As many whole lines as are buffered (each with its CRLF), up to the next
   * line that starts with "--" (only such a line can be a delimiter): the
   * fast path through long bodies. Null when next() must be used instead.
   */
  async run(): Promise<Buffer | null> {
    if (this.back.length > 0 || this.midLine) return null;
    while (!this.done && this.buf.length < PIECE) {
      const { value, done } = await this.it.next();
      if (done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, value]) : value;
    }
    if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) return null;
    const dash = this.buf.indexOf('\r\n--');
    const end = dash >= 0 ? dash + 2 : this.buf.lastIndexOf(CRLF) + 2;
    if (end < 2) return null;
    const out = this.buf.subarray(0, end);
    this.buf = this.buf.subarray(end);
    return out;
  }

  async next(): Promise<Piece | null> {
    const back = this.back.pop();
    if (back) return back;
    for (;;) {
      const nl = this.buf.indexOf(CRLF);
      if (nl >= 0) {
        const piece = { data: this.buf.subarray(0, nl), start: !this.midLine, end: true, last: false };
        this.buf = this.buf.subarray(nl + 2);
        this.midLine = false;
        return piece;
      }
      if (this.done) {
        if (this.finished) return null;
        this.finished = true;
        return { data: this.buf, start: !this.midLine, end: true, last: true };
      }
      if (this.buf.length > PIECE) {
        // Keep two bytes back: a CR that may start the CRLF, and so the rest of the line is never an empty slice.
        const piece = { data: this.buf.subarray(0, this.buf.length - 2), start: !this.midLine, end: false, last: false };
        this.buf = this.buf.subarray(this.buf.length - 2);
        this.midLine = true;
        return piece;
      }
      const { value, done } = await this.it.next();
      if (done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, value]) : value;
    }
  }
}

export const bytesOf = (p: Piece): Buffer[] => (p.end && !p.last ? [p.data, CRLF] : [p.data]);

/**
 * Whether a line is a delimiter of one of the enclosing multiparts
 * (outermost first: an outer delimiter ends inner parts too), as
 * splitMultipart reads them (RFC 2046 §5.1.1).
 */
export function delimiterOf(p: Piece, boundaries: string[]): { index: number; close: boolean } | null {
  if (!p.start || !p.end || p.data.length < 3 || p.data.length > 1000 || p.data[0] !== 0x2d || p.data[1] !== 0x2d) return null;
  const line = p.data.toString('latin1');
  for (let i = 0; i < boundaries.length; i++) {
    const b = boundaries[i];
    if (!line.startsWith(`--${b}`)) continue;
    const after = line.slice(b.length + 2);
    if (/^(--)?[ \t]*$/.test(after)) return { index: i, close: after.startsWith('--') };
  }
  return null;
}
