// The IMAP server: listens (127.0.0.1 by default), runs one ImapConnection per
// client and closes them all on shutdown. TLS is offered through STARTTLS
// (RFC 3501 6.2.1) when a certificate is given.
import net from 'node:net';
import tls from 'node:tls';
import type { MailStore } from '../mail/mailstore.js';
import { logger } from '../util/log.js';
import { AuthThrottle } from '../util/auth-throttle.js';
import type { CommandRegistry } from './command.js';
import { createDefaultRegistry } from './commands/index.js';
import { ImapConnection } from './connection.js';
import type { PlaintextAuthPolicy } from './session.js';

export interface ImapServerOptions {
  host?: string;
  port?: number;
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** The user's MailStore when the password is right, null otherwise. */
  authenticate(user: string, password: string): Promise<MailStore | null>;
  /** When LOGIN/AUTHENTICATE PLAIN are allowed without TLS (default 'loopback'). */
  allowPlaintextAuth?: PlaintextAuthPolicy;
  /** Largest APPEND message (default 50 MB). */
  maxLiteralSize?: number;
  /** Autologout after this much inactivity (default 30 min, RFC 3501 5.4). */
  idleTimeoutMs?: number;
  /** Inactivity allowed before authentication (default 60 s, or idleTimeoutMs if that is shorter). */
  preAuthTimeoutMs?: number;
  /** Delay before answering a failed login (default 1 s). */
  failedLoginDelayMs?: number;
  /** Spaces login attempts across connections after failures (default: one per server, based on failedLoginDelayMs). */
  authThrottle?: AuthThrottle;
  /** Consecutive BAD commands before BYE (default 20). */
  maxBadCommands?: number;
  /** Command registry (default: all commands of src/imap/commands). */
  registry?: CommandRegistry;
}

export interface ImapServer {
  port: number;
  close(): Promise<void>;
  connections(): number;
}

const log = logger('imap');

export async function startImapServer(opts: ImapServerOptions): Promise<ImapServer> {
  const registry = opts.registry ?? createDefaultRegistry();
  const secureContext = opts.tls ? tls.createSecureContext({ key: opts.tls.key, cert: opts.tls.cert }) : null;
  const live = new Set<ImapConnection>();
  let nextId = 1;
  const authThrottle = opts.authThrottle ?? new AuthThrottle({ baseDelayMs: opts.failedLoginDelayMs ?? 1000 });

  const server = net.createServer((socket) => {
    const id = nextId++;
    const connLog = log.child({ conn: id, remote: socket.remoteAddress });
    const conn = new ImapConnection(socket, {
      registry,
      authenticate: opts.authenticate,
      allowPlaintextAuth: opts.allowPlaintextAuth ?? 'loopback',
      secureContext,
      maxLiteralSize: opts.maxLiteralSize ?? 50 * 1024 * 1024,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30 * 60 * 1000,
      preAuthTimeoutMs: opts.preAuthTimeoutMs ?? Math.min(60_000, opts.idleTimeoutMs ?? 60_000),
      failedLoginDelayMs: opts.failedLoginDelayMs ?? 1000,
      authThrottle,
      maxBadCommands: opts.maxBadCommands ?? 20,
      log: connLog,
    });
    live.add(conn);
    connLog.debug('connected');
    void conn.closed.then(() => {
      live.delete(conn);
      connLog.debug('disconnected');
    });
    conn.start().catch((err: Error) => connLog.debug({ err: err.message }, 'greeting failed'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // After listening, errors (e.g. EMFILE on accept) are logged; the server keeps serving its connections.
  server.on('error', (err) => log.error({ err: err.message }, 'IMAP server error'));
  const port = (server.address() as net.AddressInfo).port;
  log.info({ host: opts.host ?? '127.0.0.1', port, tls: secureContext !== null }, 'IMAP server listening');

  return {
    port,
    connections: () => live.size,
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...live].map((c) => c.shutdown()));
      await Promise.all([...live].map((c) => c.closed));
      await closing;
    },
  };
}
