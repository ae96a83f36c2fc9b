// Reading an mbox file for `sealmail import`, streamed (an mbox can be
// gigabytes). Each message starts with a "From " line (the From_ line: the
// envelope sender and an asctime date), and writers leave one empty line
// after each message. A body line starting with "From " is written as
// ">From " (mboxo) and one already starting with ">From " as ">>From "
// (mboxrd): reading, one ">" is taken off every line matching /^>+From /,
// which gives mboxrd's exact bytes back (for mboxo a genuine ">From " loses
// its ">": the format cannot tell the two apart).
//
// A "From " line separates messages only at the start of the file or after
// an empty line, so an unescaped "From " inside a paragraph (a careless
// writer) stays in its message. Bytes are handled as bytes: line endings
// (LF or CRLF) and 8-bit content pass through untouched.
import { createReadStream } from 'node:fs';

export interface MboxMessage {
  /** The message's bytes, unescaped, without the From_ line and the empty line after it. */
  raw: Buffer;
  /** The From_ line (without its line ending), e.g. "From alice@example.org Thu Nov 26 10:00:00 2026". */
  fromLine: string;
}

const FROM = Buffer.from('From ');
const LF = 0x0a;

function isBlank(line: Buffer): boolean {
  return (line.length === 1 && line[0] === LF) || (line.length === 2 && line[0] === 0x0d && line[1] === LF);
}

function startsWithFrom(line: Buffer, at = 0): boolean {
  return line.length >= at + FROM.length && line.subarray(at, at + FROM.length).equals(FROM);
}

/** mboxrd unescaping: ">From " -> "From ", ">>From " -> ">From ", ... */
function unescape(line: Buffer): Buffer {
  if (line[0] !== 0x3e) return line;
  let i = 0;
  while (line[i] === 0x3e) i++;
  return startsWithFrom(line, i) ? line.subarray(1) : line;
}

function withoutLineEnd(line: Buffer): string {
  let end = line.length;
  if (line[end - 1] === LF) end--;
  if (line[end - 1] === 0x0d) end--;
  return line.subarray(0, end).toString('latin1');
}

/** Thrown when the input does not start with a From_ line. */
export class NotMboxError extends Error {
  override name = 'NotMboxError';
}

/**
 * Splits an mbox into messages. Feed it chunks with `push` (it returns the
 * messages completed so far) and call `end` for the last one.
 */
export class MboxSplitter {
  private partial: Buffer[] = [];
  private lines: Buffer[] = [];
  private fromLine: string | null = null;
  private previousBlank = true;
  /** Messages found (a From_ line seen), the one being read included. */
  count = 0;

  /** `countOnly` keeps no message bytes (counting the messages of a file). */
  constructor(private readonly countOnly = false) {}

  push(chunk: Buffer): MboxMessage[] {
    const out: MboxMessage[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl + 1);
      const line = this.partial.length ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.line(line, out);
      start = nl + 1;
    }
    if (start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(start)));
    return out;
  }

  end(): MboxMessage[] {
    const out: MboxMessage[] = [];
    if (this.partial.length) this.line(Buffer.concat(this.partial), out);
    this.partial = [];
    this.finish(out);
    return out;
  }

  private line(line: Buffer, out: MboxMessage[]): void {
    if (this.fromLine === null && this.count === 0) {
      if (isBlank(line)) return; // blank lines before the first message
      if (!startsWithFrom(line)) throw new NotMboxError('the file does not start with a "From " line');
    }
    if (this.previousBlank && startsWithFrom(line)) {
      this.finish(out);
      this.fromLine = withoutLineEnd(line);
      this.count++;
      this.previousBlank = false;
      return;
    }
    this.previousBlank = isBlank(line);
    // Copy: a line may be a view of a chunk the stream reuses.
    if (!this.countOnly) this.lines.push(Buffer.from(unescape(line)));
  }

  private finish(out: MboxMessage[]): void {
    if (this.fromLine === null) return;
    // The empty line a writer puts after each message is framing, not content.
    if (this.lines.length && isBlank(this.lines[this.lines.length - 1]!)) this.lines.pop();
    if (!this.countOnly) out.push({ raw: Buffer.concat(this.lines), fromLine: this.fromLine });
    this.lines = [];
    this.fromLine = null;
  }
}

/** Splits a whole mbox held in memory. */
export function parseMbox(data: Buffer): MboxMessage[] {
  const splitter = new MboxSplitter();
  return [...splitter.push(data), ...splitter.end()];
}

/** The messages of an mbox file, read as a stream. */
export async function* readMbox(path: string): AsyncGenerator<MboxMessage> {
  const splitter = new MboxSplitter();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    yield* splitter.push(chunk as Buffer);
  }
  yield* splitter.end();
}

/** How many messages an mbox file holds (one pass, no message kept). */
export async function countMbox(path: string): Promise<number> {
  const splitter = new MboxSplitter(true);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) splitter.push(chunk as Buffer);
  splitter.end();
  return splitter.count;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * The date of a From_ line ("From sender Thu Nov 26 10:00:00 2026", asctime,
 * UTC unless a numeric zone follows the time or the year), epoch ms; null
 * when there is none.
 */
export function fromLineDate(fromLine: string): number | null {
  const m = /\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+([a-z]{3})[a-z]*\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([+-]\d{4})\s+)?(?:[a-z]{3,4}\s+)?(\d{4})(?:\s+([+-]\d{4}))?/i.exec(fromLine);
  if (!m) return null;
  const month = MONTHS.indexOf(m[1]!.toLowerCase());
  if (month === -1) return null;
  let t = Date.UTC(Number(m[7]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5] ?? 0));
  const zone = m[6] ?? m[8];
  if (zone) {
    const sign = zone.startsWith('-') ? -1 : 1;
    t -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5))) * 60_000;
  }
  return Number.isFinite(t) ? t : null;
}
