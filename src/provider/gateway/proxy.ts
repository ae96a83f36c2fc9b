// The per-user sync gateway: `/{db}/...` in the CouchDB protocol,
// authenticated by bearer token (or Basic address:token), restricted to the
// caller's own database and to the replication allowlist, and forwarded to
// the CouchDB behind it (embedded or external) with the provider's own
// credentials. Bodies are streamed both ways, never buffered; there is no
// proxy timeout, so longpoll and continuous _changes feeds stay open.
import http from 'node:http';
import https from 'node:https';
import type { Request, Response } from 'express';
import type { Accounts } from '../accounts/accounts.js';
import type { Sessions } from '../accounts/sessions.js';
import type { CouchClient } from '../store/couch-client.js';
import { authenticate, WWW_AUTHENTICATE } from '../http/auth.js';
import { sendError } from '../http/errors.js';
import { logger } from '../../util/log.js';
import { decide, type PolicyOptions } from './policy.js';

const log = logger('sync-gateway');

// RFC 9110 §7.6.1 hop-by-hop fields, plus what must not cross the gateway.
const DROP_REQUEST = new Set(['host', 'authorization', 'cookie', 'connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'proxy-connection']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'set-cookie', 'server']);

export interface Gateway {
  handle(req: Request, res: Response): void;
  close(): void;
}

export interface GatewayOptions extends PolicyOptions {
  /**
   * Largest request body forwarded. The CouchDB behind us buffers whole
   * bodies (express-pouchdb up to 4 GB), so an authenticated user must not
   * be able to exhaust the provider's memory with one request.
   */
  maxRequestBytes: number;
}

export function createGateway(couch: CouchClient, accounts: Accounts, sessions: Sessions, opts: GatewayOptions): Gateway {
  const upstream = new URL(couch.baseUrl);
  // An external CouchDB cluster may well be reached over TLS.
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 256 }) : new http.Agent({ keepAlive: true, maxSockets: 256 });
  const request = secure ? https.request : http.request;
  const upstreamRequests = new Set<http.ClientRequest>();

  async function route(req: Request, res: Response): Promise<void> {
    const address = await authenticate(req.headers, sessions);
    if (!address) return sendError(res, 401, 'unauthorized', 'a valid token is required', { 'www-authenticate': WWW_AUTHENTICATE });

    const url = new URL(req.originalUrl, 'http://gateway.invalid');
    const rawPath = req.originalUrl.split('?')[0]!;
    const slash = rawPath.indexOf('/', 1);
    const dbSegment = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash);
    const rest = slash < 0 ? '' : rawPath.slice(slash);
    let db: string;
    try {
      db = decodeURIComponent(dbSegment);
    } catch {
      return sendError(res, 400, 'bad_request', 'malformed path');
    }
    const own = accounts.dbNameFor(address);
    if (db === '') {
      // Server root: PouchDB and CouchDB clients probe it; answer without forwarding.
      return void res.json({ couchdb: 'Welcome', vendor: { name: 'sealmail' } });
    }
    if (db !== own) return sendError(res, 403, 'forbidden', 'you may only access your own database');
    const decision = decide(req.method, rest, url.searchParams, opts);
    if (!decision.allow) return sendError(res, 403, 'forbidden', decision.reason);

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > opts.maxRequestBytes) {
      return sendError(res, 413, 'too_large', `request bodies are limited to ${opts.maxRequestBytes} bytes`, { connection: 'close' });
    }

    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!DROP_REQUEST.has(name) && value !== undefined) headers[name] = value;
    }
    headers.host = upstream.host;
    if (couch.authorization) headers.authorization = couch.authorization;

    const prefix = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
    const out = request({
      agent,
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: prefix + '/' + encodeURIComponent(own) + rest + url.search,
      headers,
    });
    upstreamRequests.add(out);
    out.on('close', () => upstreamRequests.delete(out));
    out.on('response', (upRes) => {
      const resHeaders: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (!DROP_RESPONSE.has(name) && value !== undefined) resHeaders[name] = value;
      }
      res.writeHead(upRes.statusCode ?? 502, resHeaders);
      // A continuous _changes feed is a stream of small writes: send each at once.
      res.socket?.setNoDelay(true);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    let tooLarge = false;
    out.on('error', (err) => {
      if (tooLarge) return;
      log.warn({ err: err.message }, 'upstream request failed');
      if (!res.headersSent) sendError(res, 502, 'bad_gateway', 'the database server is unavailable');
      else res.destroy();
    });
    // The client went away (e.g. a live replication stopped): stop upstream too.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    // Chunked bodies carry no length: count while streaming and cut off past the limit.
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > opts.maxRequestBytes && !tooLarge) {
        tooLarge = true;
        req.unpipe(out);
        out.destroy();
        req.resume();
        sendError(res, 413, 'too_large', `request bodies are limited to ${opts.maxRequestBytes} bytes`, { connection: 'close' });
      }
    });
    req.pipe(out);
  }

  return {
    handle(req, res) {
      route(req, res).catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'gateway failure');
        sendError(res, 500, 'internal', 'internal error');
      });
    },
    close() {
      for (const r of upstreamRequests) r.destroy();
      agent.destroy();
    },
  };
}
