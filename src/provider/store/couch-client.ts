// A small CouchDB HTTP client for the provider's own bookkeeping (accounts,
// sessions, keys) and for MX delivery. It speaks to the embedded server or to
// an Apache CouchDB given by URL; credentials in that URL become a Basic
// Authorization header (fetch refuses URLs carrying credentials).
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export class CouchError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
  ) {
    super(`CouchDB ${status} ${error}: ${reason}`);
    this.name = 'CouchError';
  }
}

export interface CouchDoc {
  _id: string;
  _rev?: string;
}

/**
 * Writes into a CouchDB-protocol server that lives in this same process (the
 * embedded one), through the very database objects its HTTP API uses: the
 * MX's hot path then skips HTTP, JSON and base64 altogether.
 */
export interface InProcessWriter {
  /** Creates or updates a document (attachments may carry their bytes as Buffers); returns the new rev. */
  put(db: string, doc: CouchDoc & Record<string, unknown>): Promise<string>;
  remove(db: string, id: string, rev: string): Promise<void>;
}

export interface NewAttachment {
  name: string;
  contentType: string;
  /** The bytes, or a stream of them when the length is not known up front. */
  data: Uint8Array | AsyncIterable<Uint8Array>;
}

// A document's CouchDB JSON with one inline attachment, produced as a stream:
// the attachment is base64-encoded in 3-byte-aligned pieces so the chunks
// concatenate correctly.
async function* streamedDocJson(doc: CouchDoc & Record<string, unknown>, att: NewAttachment & { data: AsyncIterable<Uint8Array> }): AsyncGenerator<Buffer> {
  const open = JSON.stringify(doc).slice(0, -1);
  yield Buffer.from(`${open},"_attachments":{${JSON.stringify(att.name)}:{"content_type":${JSON.stringify(att.contentType)},"data":"`);
  let carry = Buffer.alloc(0);
  for await (const chunk of att.data) {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const cut = buf.length - (buf.length % 3);
    // base64 is ASCII: latin1 conversion is a plain copy, far cheaper than UTF-8.
    if (cut > 0) yield Buffer.from(buf.subarray(0, cut).toString('base64'), 'latin1');
    carry = Buffer.from(buf.subarray(cut));
  }
  yield Buffer.from(carry.toString('base64') + '"}}}', 'latin1');
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class CouchClient {
  /** Base URL without credentials, with a trailing slash. */
  readonly baseUrl: string;
  /** `Basic ...` when the configured URL carried credentials. */
  readonly authorization: string | undefined;
  private readonly agent: http.Agent;

  /** `inProcess`: the server at `url` runs in this process; document writes go to it directly. */
  constructor(
    url: string,
    private readonly inProcess?: InProcessWriter,
  ) {
    const u = new URL(url);
    if (u.username || u.password) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      this.authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
      u.username = '';
      u.password = '';
    }
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    this.baseUrl = u.toString();
    this.agent = u.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  async request(method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.authorization) headers.authorization = this.authorization;
    const req: RequestInit & { duplex?: 'half' } = { method, headers, body: init.body, signal: init.signal };
    // A streamed request body needs half-duplex mode in undici.
    if (init.body instanceof ReadableStream) req.duplex = 'half';
    return fetch(this.baseUrl + path, req);
  }

  private async fail(res: Response): Promise<never> {
    let error = 'unknown';
    let reason = res.statusText;
    try {
      const body = (await res.json()) as { error?: string; reason?: string };
      error = body.error ?? error;
      reason = body.reason ?? reason;
    } catch {
      // not JSON
    }
    throw new CouchError(res.status, error, reason);
  }

  /** Creates the database if it does not exist yet. */
  async ensureDb(db: string): Promise<void> {
    const res = await this.request('PUT', encodeURIComponent(db));
    if (res.status === 201 || res.status === 202 || res.status === 412) {
      await res.body?.cancel();
      return;
    }
    await this.fail(res);
  }

  async getDoc<T extends CouchDoc>(db: string, id: string): Promise<T | null> {
    const res = await this.request('GET', `${encodeURIComponent(db)}/${encodeURIComponent(id)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) await this.fail(res);
    return (await res.json()) as T;
  }

  /** Writes a document (with `_rev` to update); throws CouchError 409 on conflict. Returns the new rev. */
  async putDoc(db: string, doc: CouchDoc & Record<string, unknown>): Promise<string> {
    const res = await this.request('PUT', `${encodeURIComponent(db)}/${encodeURIComponent(doc._id)}`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(doc),
    });
    if (!res.ok) await this.fail(res);
    return ((await res.json()) as { rev: string }).rev;
  }

  /**
   * Creates a document with one attachment in a single write, whichever way
   * is cheapest: in-process when the server runs here (a streamed attachment
   * is gathered first: that server holds a whole document in memory anyway),
   * else a multipart/related PUT of the raw bytes when their length is known,
   * else a streamed JSON body with the bytes inlined as base64. Aborting
   * `signal` before the write completes stores nothing. Returns the new rev.
   */
  async createDocWithAttachment(db: string, doc: CouchDoc & Record<string, unknown>, att: NewAttachment, signal?: AbortSignal): Promise<string> {
    if (this.inProcess) {
      let data: Buffer;
      if (att.data instanceof Uint8Array) data = asBuffer(att.data);
      else {
        const chunks: Buffer[] = [];
        for await (const c of att.data) chunks.push(asBuffer(c));
        data = Buffer.concat(chunks);
      }
      signal?.throwIfAborted();
      return this.inProcess.put(db, { ...doc, _attachments: { [att.name]: { content_type: att.contentType, data } } });
    }
    if (att.data instanceof Uint8Array) return this.putDocWithAttachments(db, doc, [{ ...att, data: att.data }], signal);
    return this.postStreamedDoc(db, streamedDocJson(doc, { ...att, data: att.data }), signal);
  }

  /** Deletes one revision of a document. */
  async deleteDoc(db: string, id: string, rev: string): Promise<void> {
    if (this.inProcess) return this.inProcess.remove(db, id, rev);
    const res = await this.request('DELETE', `${encodeURIComponent(db)}/${encodeURIComponent(id)}?rev=${encodeURIComponent(rev)}`);
    if (!res.ok) await this.fail(res);
    await res.body?.cancel();
  }

  /**
   * POSTs one document whose JSON body is produced as a stream (used for
   * inline base64 attachments too large to hold as a string). Aborting
   * `signal` (or the body failing) aborts the request, so the server sees
   * truncated JSON and stores nothing.
   */
  postStreamedDoc(db: string, body: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<string> {
    return this.send('POST', encodeURIComponent(db), 'application/json', body, signal);
  }

  /**
   * Creates a document with binary attachments in one request: CouchDB's
   * multipart/related PUT (the document JSON, its stubs saying
   * `"follows": true` with their length, then each attachment's raw bytes),
   * so no base64 encoding on either side. Returns the new rev.
   */
  putDocWithAttachments(
    db: string,
    doc: CouchDoc & Record<string, unknown>,
    attachments: Array<{ name: string; contentType: string; data: Uint8Array }>,
    signal?: AbortSignal,
  ): Promise<string> {
    const boundary = 'sealmail-' + crypto.randomBytes(18).toString('base64url');
    const stubs: Record<string, unknown> = {};
    for (const a of attachments) stubs[a.name] = { follows: true, content_type: a.contentType, length: a.data.byteLength };
    const parts: Buffer[] = [Buffer.from(`--${boundary}\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ ...doc, _attachments: stubs })}`)];
    for (const a of attachments) {
      parts.push(Buffer.from(`\r\n--${boundary}\r\ncontent-type: ${a.contentType}\r\n\r\n`));
      parts.push(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength));
    }
    parts.push(Buffer.from(`\r\n--${boundary}--\r\n`));
    const path = `${encodeURIComponent(db)}/${encodeURIComponent(doc._id)}`;
    return this.send('PUT', path, `multipart/related; boundary="${boundary}"`, parts, signal);
  }

  /**
   * One write over node:http with the keep-alive agent rather than fetch: no
   * web-stream conversions on the MX hot path. Resolves with the new rev.
   */
  private send(method: string, path: string, contentType: string, body: AsyncIterable<Buffer> | Buffer[], signal?: AbortSignal): Promise<string> {
    const url = new URL(path, this.baseUrl);
    const headers: http.OutgoingHttpHeaders = { 'content-type': contentType, accept: 'application/json' };
    if (Array.isArray(body)) headers['content-length'] = body.reduce((n, b) => n + b.length, 0);
    if (this.authorization) headers.authorization = this.authorization;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<string>((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.agent, signal });
      req.setNoDelay(true);
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let parsed: { rev?: string; error?: string; reason?: string } = {};
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
          } catch {
            // not JSON
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300 && parsed.rev) resolve(parsed.rev);
          else reject(new CouchError(status, parsed.error ?? 'unknown', parsed.reason ?? String(res.statusMessage)));
        });
      });
      if (Array.isArray(body)) {
        for (const b of body) req.write(b);
        req.end();
        return;
      }
      const source = Readable.from(body);
      source.on('error', (err) => req.destroy(err));
      source.pipe(req);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
