// BINARY[n] (RFC 3516): the content of a part with its content-transfer-
// encoding removed. The decoded size must be known before streaming, so the
// part is decoded twice: once to count, once to send (bounded memory).
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { findPart, partialRange, type SectionData } from './sections.js';
import type { MessageStructure } from './types.js';

/** RFC 3516 4.3: the server does not know how to decode this encoding. */
export class UnknownCteError extends Error {
  constructor(readonly encoding: string) {
    super(`unknown content-transfer-encoding ${encoding}`);
  }
}

function isB64(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f;
}

/**
 * Streaming base64 decoder: ignores everything outside the alphabet; padding
 * ends a quantum, and decoding goes on after it (concatenated base64 blocks
 * are common in broken mail; Dovecot refuses them with [PARSE]).
 */
export class Base64Decoder extends Transform {
  /** Up to 3 pending alphabet characters of an incomplete quantum. */
  private rest = '';
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const out: Buffer[] = [];
    let chars = this.rest;
    let run = 0;
    const flush = (n: number) => {
      if (n > run) chars += chunk.toString('latin1', run, n);
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (isB64(b)) continue;
      flush(i);
      run = i + 1;
      if (b === 0x3d && chars.length % 4 !== 0) {
        // padding: decode what we have as a final quantum, then start afresh
        out.push(Buffer.from(chars, 'base64'));
        chars = '';
      }
    }
    flush(chunk.length);
    const usable = chars.length - (chars.length % 4);
    out.push(Buffer.from(chars.slice(0, usable), 'base64'));
    this.rest = chars.slice(usable);
    const data = out.length === 1 ? out[0]! : Buffer.concat(out);
    cb(null, data.length ? data : undefined);
  }
  override _flush(cb: TransformCallback): void {
    const out = this.rest ? Buffer.from(this.rest, 'base64') : Buffer.alloc(0);
    cb(null, out.length ? out : undefined);
  }
}

/** Streaming quoted-printable decoder (RFC 2045 6.7): soft breaks, =XX, trailing space removed. */
export class QuotedPrintableDecoder extends Transform {
  private carry = Buffer.alloc(0);
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const lastNl = data.lastIndexOf(0x0a);
    if (lastNl < 0) {
      this.carry = Buffer.from(data);
      return cb();
    }
    this.carry = Buffer.from(data.subarray(lastNl + 1));
    cb(null, decodeQpLines(data.subarray(0, lastNl + 1), false));
  }
  override _flush(cb: TransformCallback): void {
    const out = decodeQpLines(this.carry, true);
    cb(null, out.length ? out : undefined);
  }
}

function hexVal(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/** Decodes whole lines (or the final unterminated piece when `last`). */
function decodeQpLines(data: Buffer, last: boolean): Buffer {
  const out = Buffer.alloc(data.length);
  let o = 0;
  let pos = 0;
  while (pos < data.length) {
    let nl = data.indexOf(0x0a, pos);
    if (nl < 0) {
      if (!last) break;
      nl = data.length;
    }
    let end = nl;
    const hasNl = nl < data.length;
    if (end > pos && data[end - 1] === 0x0d) end--;
    // trailing whitespace on a line is transport padding (RFC 2045 6.7 rule 3)
    while (end > pos && (data[end - 1] === 0x20 || data[end - 1] === 0x09)) end--;
    let soft = false;
    for (let i = pos; i < end; i++) {
      const b = data[i]!;
      if (b !== 0x3d) {
        out[o++] = b;
        continue;
      }
      if (i === end - 1) {
        soft = true;
        break;
      }
      const h = hexVal(data[i + 1]!);
      const l = i + 2 < end ? hexVal(data[i + 2]!) : -1;
      if (h >= 0 && l >= 0) {
        out[o++] = h * 16 + l;
        i += 2;
      } else out[o++] = b;
    }
    if (hasNl && !soft) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    }
    pos = nl + 1;
  }
  return out.subarray(0, o);
}

/** Counts and discards the bytes of a stream. */
async function countBytes(stream: Readable): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

/** Keeps only bytes [from, to) of a stream. */
function sliceStream(from: number, to: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      const s = Math.max(0, from - pos);
      const e = Math.min(chunk.length, to - pos);
      pos += chunk.length;
      cb(null, e > s ? chunk.subarray(s, e) : undefined);
    },
  });
}

function decoderFor(encoding: string): (() => Transform) | null {
  if (encoding === 'base64') return () => new Base64Decoder();
  if (encoding === 'quoted-printable') return () => new QuotedPrintableDecoder();
  return null;
}

/**
 * BINARY[path]<partial> of a message: decoded content of a leaf part;
 * non-leaf parts and the whole message (path []) are returned as stored.
 * Throws UnknownCteError for an encoding it cannot decode.
 */
export async function decodeBinarySection(
  read: (start: number, end: number) => Readable,
  s: MessageStructure,
  path: number[],
  partial?: { start: number; length: number },
): Promise<SectionData> {
  const part = path.length ? findPart(s.root, path) : null;
  let start = 0;
  let end = s.size;
  let decoder: (() => Transform) | null = null;
  if (path.length) {
    if (!part) return { size: 0, stream: Readable.from([]) };
    start = part.bodyStart;
    end = part.bodyEnd;
    const leaf = part.type !== 'multipart' && !part.message;
    if (leaf) {
      decoder = decoderFor(part.encoding);
      if (!decoder && !['7bit', '8bit', 'binary'].includes(part.encoding)) throw new UnknownCteError(part.encoding);
    }
  }
  const source = () => (end > start ? read(start, end) : Readable.from([]));
  if (!decoder) {
    const { from, to } = partialRange(end - start, partial);
    return { size: to - from, stream: to > from ? read(start + from, start + to) : Readable.from([]) };
  }
  const make = decoder;
  const total = await countBytes(source().pipe(make()));
  const { from, to } = partialRange(total, partial);
  if (to <= from) return { size: 0, stream: Readable.from([]) };
  const out = sliceStream(from, to);
  pipeline(source(), make(), out).catch((err: Error) => out.destroy(err));
  return { size: to - from, stream: out };
}
