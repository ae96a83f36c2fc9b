// The daemon's control socket: `sealmail keys ...` and `sealmail passphrase
// change` talk to the running daemon (which holds the only handle on the
// encrypted store) over a Unix socket in the data dir, mode 0600 — only the
// user can reach it. One JSON request per line, one JSON response per line.
import net from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import type { AccountRuntime } from './account.js';
import { changePassphrase } from './passphrase-change.js';
import { logger } from '../util/log.js';

const log = logger('control');

export interface ControlRequest {
  method: string;
  account?: string;
  params?: Record<string, string>;
}

type Handler = (a: AccountRuntime, p: Record<string, string>) => Promise<unknown>;

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
    if (p.alwaysEncrypt !== undefined) a.config.alwaysEncrypt = p.alwaysEncrypt === 'yes';
    return { alwaysEncrypt: a.config.alwaysEncrypt };
  },
  // The storage secret, the provider login and the provider's copy of the secret together (passphrase-change.ts).
  'passphrase.change': async (a, p) => changePassphrase(a, p.current ?? '', p.next ?? ''),
};

export function startControlSocket(path: string, accounts: AccountRuntime[]): { close(): Promise<void> } {
  rmSync(path, { force: true });
  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        void answer(line).then((reply) => socket.write(JSON.stringify(reply) + '\n'));
      }
      if (buffer.length > 1 << 20) socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  const answer = async (line: string): Promise<{ ok: true; result: unknown } | { ok: false; error: string }> => {
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
      return { ok: true, result: await handler(account, req.params ?? {}) };
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

/** The client side, for the CLI. */
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
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error('the daemon is not running; start it with `sealmail start`') : err);
    });
  });
}
