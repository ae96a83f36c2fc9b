// Content-Transfer-Encoding (RFC 2045 6) and charset decoding of part bodies,
// for BINARY[] (RFC 3516) and for SEARCH BODY/TEXT.
import type { Readable } from 'node:stream';
import iconv from 'iconv-lite';

/** True for the encodings BINARY can undo; others (e.g. x-uuencode) get NO [UNKNOWN-CTE]. */
export function isKnownEncoding(encoding: string): boolean {
  return ['7bit', '8bit', 'binary', 'base64', 'quoted-printable', ''].includes(encoding.toLowerCase());
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 2045 6.7: soft line breaks removed, =XX decoded, a stray "=" kept as is. */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    if (input[i + 1] === 0x0d && input[i + 2] === 0x0a) {
      i += 2;
      continue;
    }
    if (input[i + 1] === 0x0a) {
      i += 1;
      continue;
    }
    const hi = hexValue(input[i + 1] ?? -1);
    const lo = hexValue(input[i + 2] ?? -1);
    if (hi >= 0 && lo >= 0) {
      out[o++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

/** Undoes the transfer encoding of a part body. */
export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  switch (encoding.toLowerCase()) {
    case 'base64':
      // Node ignores whitespace and stops at invalid characters, like most MUAs.
      return Buffer.from(body.toString('latin1'), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

/** Bytes in `charset` to a JS string; unknown charsets are read as UTF-8. */
export function decodeCharset(bytes: Buffer, charset: string | undefined): string {
  const name = (charset ?? 'us-ascii').trim().toLowerCase();
  if (name === 'utf-8' || name === 'utf8' || name === 'us-ascii' || !iconv.encodingExists(name)) return bytes.toString('utf8');
  return iconv.decode(bytes, name);
}

/** Collects a stream into one buffer (the caller bounds the size). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
