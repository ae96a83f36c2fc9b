// The provider's MX: inbound SMTP for the provider's domains only (no relay).
// RCPT checks the user and their key up front (550 unknown, 451 no key);
// DATA is encrypted on arrival per recipient (./deliver.ts). SIZE per RFC 1870:
// a declared size over the limit is refused at MAIL FROM, an actual one at
// the end of DATA with 552.
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { logger } from '../../util/log.js';
import type { Deliverer, LocalRecipient } from './deliver.js';
import { DeliveryError, rfc5322Date, toSmtpError } from './errors.js';
import { listenSmtp, CLOSE_TIMEOUT_MS, MAX_CLIENTS, MAX_RECIPIENTS, receivedHeader, uniqueRecipients, type RunningSmtp } from './listen.js';

const log = logger('mx');

export interface MxOptions {
  host: string;
  port: number;
  hostname: string;
  maxMessageSize: number;
  deliverer: Deliverer;
  /** STARTTLS is offered, never required: RFC 3207 §4 (a public MX must accept plaintext). */
  tls?: { key: string; cert: string };
}

export async function startMx(opts: MxOptions): Promise<RunningSmtp> {
  const { deliverer } = opts;
  const server: SMTPServer = new SMTPServer({
    name: opts.hostname,
    banner: 'sealmail MX',
    size: opts.maxMessageSize,
    authOptional: true,
    disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    disableReverseLookup: true,
    maxClients: MAX_CLIENTS,
    closeTimeout: CLOSE_TIMEOUT_MS,
    // smtp-server answers 452 past this (an option its type definitions lack).
    ...{ maxRecipients: MAX_RECIPIENTS },
    logger: false,

    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      if (!deliverer.isLocal(address.address)) {
        return callback(new DeliveryError(550, '5.7.1 Relaying denied: not a local domain'));
      }
      deliverer.resolve(address.address).then(
        () => callback(),
        (err: unknown) => callback(toSmtpError(err)),
      );
    },

    onData(stream, session, callback) {
      const date = rfc5322Date();
      (async () => {
        const recipients: LocalRecipient[] = [];
        // Resolved again: the key may have changed since RCPT (cheap: cached).
        for (const address of uniqueRecipients(session.envelope.rcptTo)) recipients.push(await deliverer.resolve(address));
        const ids = await deliverer.deliver({
          source: stream,
          recipients,
          maxSize: opts.maxMessageSize,
          received: (rcpt) =>
            receivedHeader(
              {
                helo: session.hostNameAppearsAs,
                clientHostname: session.clientHostname,
                remoteAddress: session.remoteAddress,
                by: opts.hostname,
                protocol: 'ESMTP',
                id: session.id,
                recipient: rcpt.address,
              },
              date,
            ),
        });
        return ids;
      })().then(
        (ids) => {
          log.info({ session: session.id, recipients: ids.length }, 'message stored encrypted');
          callback(null, `2.0.0 Ok: stored encrypted as ${ids.length} document(s)`);
        },
        (err: unknown) => {
          // The stream must be fully read before answering.
          stream.resume();
          const reply = toSmtpError(err);
          log.info({ session: session.id, code: reply.responseCode }, 'message refused');
          if (stream.readableEnded || stream.destroyed) callback(reply);
          else stream.once('end', () => callback(reply));
        },
      );
    },
  });
  return listenSmtp(server, opts.host, opts.port);
}
