// The daemon's control socket: `sealmail keys ...` and `sealmail passphrase
// change` talk to the running daemon (which holds the only handle on the
// encrypted store) over a Unix socket in the data dir, mode 0600 — only the
// user can reach it. One JSON request per line, one JSON response per line,
// in order (a client sends its next request once it has the reply).
import net from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import type { AccountRuntime } from './account.js';
import { changePassphrase } from './passphrase-change.js';
import { keyserverUrl } from './config.js';
import { deliverImported, prepareMailbox } from '../mail/import/store-target.js';
import type { ImportProgress } from '../mail/import/run.js';
import { logger } from '../util/log.js';

const NOT_RUNNING = 'the daemon is not running; start it with `sealmail start` (or `npm start` in the sealmail directory)';

const log = logger('control');

/** Longest request line: `sealmail import` sends up to 8 MiB of messages per request, base64 (a single 64 MiB message fits). */
const MAX_LINE = 96 << 20;

export interface ControlRequest {
  method: string;
  account?: string;
  params?: Record<string, string>;
}

/** The client connection a request came on. */
interface Connection {
  onClose(fn: () => void): void;
}

type Handler = (a: AccountRuntime, p: Record<string, string>, conn: Connection) => Promise<unknown>;

function parseProgress(json: string | undefined): ImportProgress {
  const p = JSON.parse(json ?? '') as ImportProgress;
  if (typeof p !== 'object' || p === null || typeof p.mailbox !== 'string') throw new Error('bad import progress');
  return p;
}

const HANDLERS: Record<string, Handler> = {
  'keys.list': async (a) => {
    const out: Array<{ address: string; fingerprint: string; level: string; source: string; expiresAt: string | null; revoked: boolean }> = [];
    for await (const doc of a.keys.keyring.all()) {
      for (const k of doc.keys) out.push({ address: doc.address, fingerprint: k.fingerprint, level: k.level, source: k.source, expiresAt: k.expiresAt, revoked: k.revoked });
    }
    return out;
  },
  'keys.show': async (a, p) => a.keys.keyring.load(p.address ?? a.config.address),
  'keys.export': async (a, p) => {
    if (!p.address || p.address === a.config.address) return p.secret === 'yes' ? a.keys.exportPrivateKey() : a.keys.exportPublicKey();
    const doc = await a.keys.keyring.load(p.address);
    if (doc.keys.length === 0) throw new Error(`no key for ${p.address} in the keyring`);
    return doc.keys.map((k) => k.armored).join('\n');
  },
  'keys.import': async (a, p) => a.keys.importKeys(p.armored ?? ''),
  'keys.verify': async (a, p) => {
    await a.keys.pin(p.address ?? '', p.fingerprint ?? '');
    return `pinned ${p.fingerprint} for ${p.address}`;
  },
  // The configuration file is saved by the CLI; this makes the running daemon follow it at once.
  'account.set': async (a, p) => {
    const keyserver = p.keyserver ? keyserverUrl(p.keyserver) : null;
    if (p.keyserver && !keyserver) throw new Error(`${p.keyserver} is not a keyserver URL`);
    if (p.alwaysEncrypt !== undefined) a.config.alwaysEncrypt = p.alwaysEncrypt === 'yes';
    if (p.keyserver !== undefined) {
      a.keys.setKeyserver(keyserver);
      if (keyserver) a.config.keyserver = keyserver;
      else delete a.config.keyserver;
    }
    return { alwaysEncrypt: a.config.alwaysEncrypt, keyserver: a.config.keyserver ?? null };
  },
  // The storage secret, the provider login and the provider's copy of the secret together (passphrase-change.ts).
  'passphrase.change': async (a, p) => changePassphrase(a, p.current ?? '', p.next ?? ''),
  // `sealmail import` (src/mail/import): begin (creates the mailbox, returns the hashes it holds), one
  // request per message, progress reports for `sealmail status`. A client gone mid-import leaves it marked interrupted.
  'import.begin': async (a, p, conn) => {
    const progress = parseProgress(p.progress);
    const counts = await prepareMailbox(a.mail, progress.mailbox);
    a.importProgress = progress;
    conn.onClose(() => {
      if (a.importProgress === progress && progress.active) a.importProgress = { ...progress, active: false, error: 'interrupted', finishedAt: new Date().toISOString() };
    });
    log.info({ account: a.config.address, total: progress.total }, 'import started');
    return Object.fromEntries(counts);
  },
  // A batch of messages: JSON [{deliveryId, raw (base64), flags, internalDate}]; returns which were there already.
  'import.messages': async (a, p) => {
    const batch = JSON.parse(p.messages ?? '') as Array<{ deliveryId: string; raw: string; flags?: string[]; internalDate?: number }>;
    if (!p.mailbox || !Array.isArray(batch) || batch.some((m) => typeof m?.deliveryId !== 'string' || typeof m.raw !== 'string')) {
      throw new Error('import.messages needs a mailbox and messages with deliveryId and raw');
    }
    const deliveries = batch.map((m) => ({
      deliveryId: m.deliveryId,
      message: { raw: Buffer.from(m.raw, 'base64'), flags: Array.isArray(m.flags) ? m.flags.map(String) : [], internalDate: Number(m.internalDate) || Date.now() },
    }));
    return { duplicates: await deliverImported(a.mail, p.mailbox, deliveries) };
  },
  'import.report': async (a, p) => {
    const progress = parseProgress(p.progress);
    if (a.importProgress && a.importProgress.startedAt === progress.startedAt) Object.assign(a.importProgress, progress);
    else a.importProgress = progress;
    if (!progress.active) log.info({ account: a.config.address, imported: progress.imported, skipped: progress.skipped, error: progress.error }, 'import finished');
    return null;
  },
};

export function startControlSocket(path: string, accounts: AccountRuntime[]): { close(): Promise<void> } {
  rmSync(path, { force: true });
  const server = net.createServer((socket) => {
    let buffer = '';
    const closers: Array<() => void> = [];
    const conn: Connection = { onClose: (fn) => void closers.push(fn) };
    socket.on('close', () => {
      for (const fn of closers.splice(0)) fn();
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        void answer(line, conn).then((reply) => socket.write(JSON.stringify(reply) + '\n'));
      }
      if (buffer.length > MAX_LINE) socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  const answer = async (line: string, conn: Connection): Promise<{ ok: true; result: unknown } | { ok: false; error: string }> => {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: 'the request is not JSON' };
    }
    const handler = HANDLERS[req.method];
    if (!handler) return { ok: false, error: `unknown method ${req.method}` };
    const account = req.account ? accounts.find((a) => a.config.address === req.account!.toLowerCase()) : accounts[0];
    if (!account) return { ok: false, error: `no account ${req.account} in this daemon` };
    try {
      return { ok: true, result: await handler(account, req.params ?? {}, conn) };
    } catch (err) {
      log.info({ method: req.method, err: (err as Error).message }, 'control request failed');
      return { ok: false, error: (err as Error).message };
    }
  };
  server.listen(path, () => chmodSync(path, 0o600));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

/** The client side, for the CLI: one request on its own connection. */
export async function controlRequest(path: string, req: ControlRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl === -1) return;
      socket.end();
      const reply = JSON.parse(buffer.slice(0, nl)) as { ok: boolean; result?: unknown; error?: string };
      if (reply.ok) resolve(reply.result);
      else reject(new Error(reply.error));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(NOT_RUNNING) : err);
    });
  });
}

/** The client side for many requests on one connection (`sealmail import`), one at a time. */
export class ControlConnection {
  private buffer = '';
  private waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void } | null = null;
  private closed: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      const nl = this.buffer.indexOf('\n');
      if (nl === -1) return;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const w = this.waiting;
      this.waiting = null;
      const reply = JSON.parse(line) as { ok: boolean; result?: unknown; error?: string };
      if (reply.ok) w?.resolve(reply.result);
      else w?.reject(new Error(reply.error));
    });
    const fail = (err: Error): void => {
      this.closed = err;
      this.waiting?.reject(err);
      this.waiting = null;
    };
    socket.on('error', (err) => fail(new Error(`lost the connection to the daemon (${err.message})`)));
    socket.on('close', () => fail(new Error('the daemon closed the connection (did it stop?)')));
  }

  static open(path: string): Promise<ControlConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        resolve(new ControlConnection(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(NOT_RUNNING) : err);
      });
    });
  }

  request(req: ControlRequest): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.waiting) return Promise.reject(new Error('one request at a time'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(JSON.stringify(req) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }
}
