// The local submission gateway (DESIGN.md "Outgoing"): Thunderbird submits
// on 127.0.0.1:2013 with the account's local password; every recipient gets
// its own signed (and, with a key, encrypted) copy, written to the outgoing
// queue before we answer 250.
import { secretsEqual } from '../util/secret-compare.js';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { MimeLimitError, type LookupResult } from '../keymanager/index.js';
import { logger } from '../util/log.js';
import { AuthThrottle } from '../util/auth-throttle.js';
import { prepareOutgoing, type GatewayKeys } from './compose.js';
import { SmtpError } from './errors.js';
import type { OutgoingQueue } from './queue.js';

const log = logger('smtp.gateway');

export interface Account {
  address: string;
  /** The local password the mail client uses. */
  password: string;
  keymanager: GatewayKeys;
  /** Refuse recipients without a usable key instead of sending signed-only. */
  alwaysEncrypt: boolean;
}

export interface SmtpGatewayOptions {
  host?: string;
  port?: number;
  /** Certificate for STARTTLS (the daemon's self-signed one); without it STARTTLS is not offered. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  accounts: Account[];
  queue: OutgoingQueue;
  /** Largest accepted message; default 25 MB. */
  maxSize?: number;
  /** Delay before answering a wrong password (default 1 s). */
  failedAuthDelayMs?: number;
  /** Spaces AUTH attempts across connections after failures (default: one per gateway; the daemon shares the IMAP server's). */
  authThrottle?: AuthThrottle;
}

export interface SmtpGateway {
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function startSmtpGateway(opts: SmtpGatewayOptions): Promise<SmtpGateway> {
  const byAddress = new Map(opts.accounts.map((a) => [a.address.toLowerCase(), a]));
  const maxSize = opts.maxSize ?? 25 * 1024 * 1024;
  const failedAuthDelayMs = opts.failedAuthDelayMs ?? 1000;
  const authThrottle = opts.authThrottle ?? new AuthThrottle({ baseDelayMs: failedAuthDelayMs });
  // Per connection: the key decision made at RCPT, applied at DATA.
  const decisions = new Map<string, Map<string, LookupResult>>();
  const accountOf = (session: SMTPServerSession): Account | undefined => byAddress.get(String(session.user ?? '').toLowerCase());

  const server = new SMTPServer({
    name: 'localhost',
    banner: 'sealmail local submission',
    secure: false,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : { hideSTARTTLS: true, disabledCommands: ['STARTTLS'] }),
    authMethods: ['PLAIN', 'LOGIN'],
    // Loopback only; Thunderbird on localhost often skips STARTTLS.
    allowInsecureAuth: true,
    size: maxSize,
    logger: false,
    onAuth(auth, _session, cb) {
      void authThrottle.beforeAttempt().then(() => {
        const account = byAddress.get(String(auth.username ?? '').toLowerCase());
        if (!account || !secretsEqual(auth.password ?? '', account.password)) {
          authThrottle.recordFailure();
          log.warn({ user: auth.username }, 'authentication failed');
          const refuse = (): void => cb(new SmtpError(535, '5.7.8', 'Authentication failed: wrong address or local password'));
          setTimeout(refuse, failedAuthDelayMs);
          return;
        }
        cb(null, { user: account.address });
      });
    },
    onMailFrom(address, session, cb) {
      const from = address.address.toLowerCase();
      const account = accountOf(session);
      decisions.set(session.id, new Map());
      if (!byAddress.has(from)) {
        return cb(new SmtpError(553, '5.7.1', `<${address.address}> is not an address of this sealmail account; send from your own address`));
      }
      if (!account || account.address.toLowerCase() !== from) {
        return cb(new SmtpError(553, '5.7.1', `<${address.address}> is not the address you logged in as (${account?.address ?? 'nobody'})`));
      }
      cb();
    },
    onRcptTo(address, session, cb) {
      const account = accountOf(session);
      if (!account) return cb(new SmtpError(530, '5.7.0', 'Authentication required'));
      const rcpt = address.address.toLowerCase();
      account.keymanager
        .lookup(rcpt)
        .then((result) => {
          if (!result.found && (account.alwaysEncrypt || result.alwaysEncrypt)) {
            const scope = account.alwaysEncrypt ? 'always-encrypt is on for your account' : 'this contact is set to always-encrypt';
            return cb(new SmtpError(550, '5.7.1', `<${address.address}>: no usable OpenPGP key (${result.reason}); ${scope}, so it was not sent to this recipient`));
          }
          decisions.get(session.id)?.set(rcpt, result);
          cb();
        })
        .catch((err: Error) => {
          log.warn({ err: err.message }, 'key lookup failed');
          if (account.alwaysEncrypt) return cb(new SmtpError(451, '4.4.3', `<${address.address}>: key lookup failed, try again later`));
          decisions.get(session.id)?.set(rcpt, { found: false, reason: 'lookup failed' });
          cb();
        });
    },
    onData(stream, session, cb) {
      const account = accountOf(session);
      // Spooled as it arrives (encrypted in the queue's store), so a 25 MB message is never held in memory.
      opts.queue
        .spool(stream, maxSize)
        .then(async (spool) => {
          if (!spool || (stream as Readable & { sizeExceeded?: boolean }).sizeExceeded) {
            await spool?.discard();
            throw new SmtpError(552, '5.3.4', `Message too big (limit ${maxSize} bytes)`);
          }
          try {
            if (!account) throw new SmtpError(530, '5.7.0', 'Authentication required');
            const envelope = session.envelope;
            const from = envelope.mailFrom ? envelope.mailFrom.address : account.address;
            const rcpts = envelope.rcptTo.map((r) => r.address);
            const prepared = await prepareOutgoing(spool, rcpts, account.keymanager, decisions.get(session.id) ?? new Map());
            // Each copy is produced while it is written to the queue, one at a time.
            for (const copy of prepared.copies) {
              await opts.queue.enqueue({ from, to: copy.to, messageId: prepared.messageId, subject: prepared.subject, raw: copy.open() });
              if (copy.key) await account.keymanager.markUsed(copy.key.address, copy.key.fingerprint);
            }
            const encrypted = prepared.copies.filter((c) => c.encrypted).length;
            log.info({ recipients: rcpts.length, encrypted, size: spool.size }, 'message queued');
            cb(null, `2.0.0 queued for ${rcpts.length} recipient(s), ${encrypted} encrypted`);
          } finally {
            await spool.discard();
          }
        })
        .catch((err: Error) => {
          stream.resume(); // whatever was not read yet: the client waits for our reply after its final dot
          if (err instanceof SmtpError) return cb(err);
          if (err instanceof MimeLimitError) return cb(new SmtpError(554, '5.6.0', `Message refused: ${err.message}`));
          log.error({ err: err.message }, 'could not queue message');
          cb(new SmtpError(451, '4.3.0', 'Could not queue the message; try again'));
        });
    },
    onClose(session) {
      decisions.delete(session.id);
    },
  });
  server.on('error', (err) => log.warn({ err: err.message }, 'smtp server error'));

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 2013, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  log.info({ host, port }, 'SMTP gateway listening');
  return {
    host,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
