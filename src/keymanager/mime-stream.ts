// Streaming counterparts of the byte-level MIME helpers in mime.ts, for
// messages too big to hold (a 25 MB submission): canonical CRLF line ends and
// the header/body split. The 7-bit re-encoding lives in mime-seven-bit.ts and
// the line reader under it in mime-lines.ts; both are re-exported here, where
// callers import them.
import { CRLF, HEADER_MAX, MimeLimitError } from './mime-lines.js';

export { HEADER_MAX, MimeLimitError } from './mime-lines.js';
export { planSevenBit, sevenBitStream, type SevenBitEncoding, type SevenBitPlan } from './mime-seven-bit.js';

/** Bare LF and bare CR become CRLF (what toCRLF does), across chunk boundaries too. */
export async function* crlfStream(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  let pendingCR = false;
  for await (const raw of source) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (chunk.length === 0) continue;
    if (!pendingCR && isCanonical(chunk)) {
      yield chunk;
      continue;
    }
    const out: Buffer[] = [];
    let start = 0;
    let i = 0;
    if (pendingCR) {
      out.push(CRLF);
      pendingCR = false;
      if (chunk[0] === 0x0a) start = i = 1;
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x0d) {
        if (i + 1 === chunk.length) {
          out.push(chunk.subarray(start, i));
          start = i + 1;
          pendingCR = true;
        } else if (chunk[i + 1] === 0x0a) i++;
        else {
          out.push(chunk.subarray(start, i), CRLF);
          start = i + 1;
        }
      } else if (c === 0x0a) {
        out.push(chunk.subarray(start, i), CRLF);
        start = i + 1;
      }
    }
    if (start === 0 && out.length === 0) {
      yield chunk;
      continue;
    }
    if (start < chunk.length) out.push(chunk.subarray(start));
    yield Buffer.concat(out);
  }
  if (pendingCR) yield CRLF;
}

/** Every LF preceded by CR and every CR followed by LF, within the chunk (native searches, no byte loop). */
function isCanonical(chunk: Buffer): boolean {
  for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) if (i === 0 || chunk[i - 1] !== 0x0d) return false;
  for (let i = chunk.indexOf(0x0d); i >= 0; i = chunk.indexOf(0x0d, i + 1)) if (chunk[i + 1] !== 0x0a) return false;
  return true;
}

/**
 * Splits a canonical (CRLF) message into its header block (ending in CRLF,
 * without the blank line; what splitEntity returns) and the body as a stream.
 */
export async function splitHead(source: AsyncIterable<Buffer>): Promise<{ header: Buffer; body: AsyncGenerator<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  let acc = Buffer.alloc(0);
  let searchFrom = 0;
  for (;;) {
    if (acc.length >= 2 && acc[0] === 0x0d && acc[1] === 0x0a) return { header: Buffer.alloc(0), body: rest(acc.subarray(2), it) };
    const idx = acc.indexOf('\r\n\r\n', searchFrom);
    if (idx >= 0) return { header: acc.subarray(0, idx + 2), body: rest(acc.subarray(idx + 4), it) };
    if (acc.length > HEADER_MAX) throw new MimeLimitError(`the header block is over ${HEADER_MAX} bytes`);
    searchFrom = Math.max(0, acc.length - 3);
    const { value, done } = await it.next();
    if (done) return { header: acc, body: rest(Buffer.alloc(0), it) };
    acc = acc.length ? Buffer.concat([acc, value]) : value;
  }
}

async function* rest(first: Buffer, it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (first.length) yield first;
  for (;;) {
    const { value, done } = await it.next();
    if (done) return;
    yield value;
  }
}

/** Everything a stream yields, as one buffer (small messages, tests). */
export async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of source) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A buffer as a stream of one chunk. */
export async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}
