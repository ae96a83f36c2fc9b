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

/** Thrown into a walk whose consumer stopped reading. */
class OutputAbandoned extends Error {}

/**
 * What a walk writes, handed to one consumer in slices of about PIECE bytes.
 * The walk pushes without waiting and calls room() before it reads more
 * input, so at most a slice plus what one input chunk produces is held.
 * (A chain of nested async generators, one per MIME level, cost every line
 * a promise per level: quadratic in the nesting.)
 */
export class OutputQueue {
  private parts: Buffer[] = [];
  private size = 0;
  private ended = false;
  private abandoned = false;
  private error: unknown = null;
  private wakeConsumer: (() => void) | null = null;
  private wakeProducer: (() => void) | null = null;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= PIECE) this.wake();
  }

  /** Producer side: returns once the consumer has taken a full slice (throws when it stopped reading). */
  async room(): Promise<void> {
    while (this.size >= PIECE && !this.abandoned) await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    if (this.abandoned) throw new OutputAbandoned('the output is no longer read');
  }

  /** Producer side: the walk is over (with its error, if it failed). */
  end(error: unknown = null): void {
    this.ended = true;
    this.error = error instanceof OutputAbandoned ? null : error;
    this.wake();
  }

  /** Consumer side: the next slice, null at the end; the walk's error is thrown here. */
  async next(): Promise<Buffer | null> {
    while (this.size < PIECE && !this.ended) await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    if (this.error) throw this.error;
    if (this.size === 0) return null;
    const out = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    const wake = this.wakeProducer;
    this.wakeProducer = null;
    wake?.();
    return out;
  }

  /** Consumer side: no more reads; a waiting walk stops. */
  abandon(): void {
    this.abandoned = true;
    const wake = this.wakeProducer;
    this.wakeProducer = null;
    wake?.();
  }

  /** The source, pulled only while the output has room. */
  async *gate(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const it = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        await this.room();
        const { value, done } = await it.next();
        if (done) return;
        yield value;
      }
    } finally {
      if (this.abandoned) await it.return?.();
    }
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = null;
    wake?.();
  }
}
