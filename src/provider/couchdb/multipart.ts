// CouchDB's multipart/related document PUT (CouchDB API, "Creating Multiple
// Attachments"): the first part is the document JSON whose attachment stubs
// say `"follows": true`, the following parts are those attachments' raw
// bytes, in the stubs' order. The MX uses it to store ciphertext without a
// base64 round trip. express-pouchdb would hand such a body to multiparty,
// which spools every part to a temp file; this parser reads the (bounded)
// body in memory and turns it into the plain document PouchDB's put() takes,
// attachments as Buffers.
import type { IncomingMessage } from 'node:http';

export class MultipartError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'MultipartError';
  }
}

/** Largest multipart document body accepted in memory. */
export const MULTIPART_MAX_BYTES = 128 * 1024 * 1024;

export function isMultipartRelated(contentType: string | undefined): boolean {
  return /^multipart\/related\s*;/i.test(contentType ?? '');
}

function boundaryOf(contentType: string): string {
  const m = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new MultipartError(400, 'multipart/related without a boundary');
  return boundary;
}

/** Reads the request body, refusing more than `max` bytes (413). */
export async function readBody(req: IncomingMessage, max = MULTIPART_MAX_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) throw new MultipartError(413, 'document too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new MultipartError(413, 'document too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Splits a multipart body into its parts' bodies (headers dropped), per RFC 2046 §5.1.1. */
function parts(body: Buffer, boundary: string): Buffer[] {
  const delimiter = Buffer.from(`--${boundary}`);
  // A delimiter is only one at the start of a line: the CRLF before it belongs to it.
  const lineDelimiter = Buffer.from(`\r\n--${boundary}`);
  const out: Buffer[] = [];
  let at = body.indexOf(delimiter);
  if (at < 0) throw new MultipartError(400, 'multipart body without its boundary');
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (body[afterDelimiter] === 0x2d && body[afterDelimiter + 1] === 0x2d) return out; // close delimiter
    const headersEnd = body.indexOf('\r\n\r\n', afterDelimiter);
    if (headersEnd < 0) throw new MultipartError(400, 'truncated multipart body');
    const start = headersEnd + 4;
    const next = body.indexOf(lineDelimiter, start);
    if (next < 0) throw new MultipartError(400, 'truncated multipart body');
    out.push(body.subarray(start, next));
    at = next + 2;
  }
}

interface AttachmentStub {
  follows?: boolean;
  length?: number;
  data?: unknown;
  [key: string]: unknown;
}

/** The document of a multipart/related body, its `follows` attachments filled with their bytes. */
export function parseMultipartDoc(body: Buffer, contentType: string): Record<string, unknown> {
  const [json, ...attachments] = parts(body, boundaryOf(contentType));
  if (!json) throw new MultipartError(400, 'multipart body without a document part');
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new MultipartError(400, 'invalid_json');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new MultipartError(400, 'document must be a JSON object');
  const stubs = (doc._attachments ?? {}) as Record<string, AttachmentStub>;
  const following = Object.entries(stubs).filter(([, stub]) => stub.follows === true);
  if (following.length !== attachments.length) throw new MultipartError(400, 'attachment parts do not match the "follows" stubs');
  following.forEach(([, stub], i) => {
    const data = attachments[i]!;
    if (typeof stub.length === 'number' && stub.length !== data.length) throw new MultipartError(400, 'attachment length does not match its part');
    delete stub.follows;
    delete stub.length;
    stub.data = data;
  });
  return doc;
}
