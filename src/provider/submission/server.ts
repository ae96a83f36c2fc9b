// Authenticated submission (RFC 6409) for the provider's users: AUTH PLAIN or
// LOGIN (RFC 4954) with the account password or a bearer token; MAIL FROM
// must be the authenticated address (553 otherwise). Local recipients take
// the MX path (encrypted into their database); the others go to the smarthost.
import { SMTPServer } from 'smtp-server';
import type { Authenticator } from '../accounts/login.js';
import { parseAddress } from '../accounts/address.js';
import type { Deliverer, LocalRecipient } from '../mx/deliver.js';
import { DeliveryError, rfc5322Date, toSmtpError } from '../mx/errors.js';
import { listenSmtp, CLOSE_TIMEOUT_MS, MAX_CLIENTS, MAX_RECIPIENTS, receivedHeader, uniqueRecipients, type RunningSmtp } from '../mx/listen.js';
import { logger } from '../../util/log.js';
import { relayMessage, type RelayTarget } from './relay.js';

const log = logger('submission');

export interface SubmissionOptions {
  host: string;
  port: number;
  hostname: string;
  maxMessageSize: number;
  deliverer: Deliverer;
  auth: Authenticator;
  relay?: RelayTarget;
  /** With TLS, STARTTLS is required before AUTH (RFC 6409 §4.3, RFC 8314). */
  tls?: { key: string; cert: string };
}

export async function startSubmission(opts: SubmissionOptions): Promise<RunningSmtp> {
  const { deliverer, auth } = opts;
  const server: SMTPServer = new SMTPServer({
    name: opts.hostname,
    banner: 'sealmail submission',
    size: opts.maxMessageSize,
    authMethods: ['PLAIN', 'LOGIN'],
    // Without TLS (loopback, tests) AUTH is allowed in the clear.
    allowInsecureAuth: !opts.tls,
    disabledCommands: opts.tls ? [] : ['STARTTLS'],
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    disableReverseLookup: true,
    maxClients: MAX_CLIENTS,
    closeTimeout: CLOSE_TIMEOUT_MS,
    // smtp-server answers 452 past this (an option its type definitions lack).
    ...{ maxRecipients: MAX_RECIPIENTS },
    logger: false,

    onAuth(credentials, session, callback) {
      const { username, password } = credentials;
      if (!username || !password) return callback(new DeliveryError(535, '5.7.8 Authentication credentials invalid'));
      auth.login(username, password, session.remoteAddress, true).then(
        (result) => {
          if (result.ok) return callback(null, { user: result.account.address });
          if (result.retryAfter > 0) return callback(new DeliveryError(454, `4.7.0 Too many failed logins, try again in ${result.retryAfter} s`));
          log.info({ session: session.id }, 'authentication failed');
          callback(new DeliveryError(535, '5.7.8 Authentication credentials invalid'));
        },
        (err: unknown) => callback(toSmtpError(err)),
      );
    },

    onMailFrom(address, session, callback) {
      const from = parseAddress(address.address)?.address;
      if (!session.user || from !== session.user) {
        return callback(new DeliveryError(553, `5.7.1 Sender address must be ${session.user ?? 'the authenticated account'}`));
      }
      callback();
    },

    onRcptTo(address, _session, callback) {
      if (deliverer.isLocal(address.address)) {
        deliverer.resolve(address.address).then(
          () => callback(),
          (err: unknown) => callback(toSmtpError(err)),
        );
        return;
      }
      if (!opts.relay || !parseAddress(address.address)) return callback(new DeliveryError(550, '5.7.1 Relaying to other domains is not configured'));
      callback();
    },

    onData(stream, session, callback) {
      const date = rfc5322Date();
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      (async () => {
        const local: LocalRecipient[] = [];
        const external: string[] = [];
        for (const address of uniqueRecipients(session.envelope.rcptTo)) {
          if (deliverer.isLocal(address)) local.push(await deliverer.resolve(address));
          else external.push(address);
        }
        const trace = (recipient: string) =>
          receivedHeader(
            {
              helo: session.hostNameAppearsAs,
              clientHostname: session.clientHostname,
              remoteAddress: session.remoteAddress,
              by: opts.hostname,
              protocol: 'ESMTPSA',
              id: session.id,
              recipient,
            },
            date,
          );
        const relay = opts.relay;
        return deliverer.deliver({
          source: stream,
          recipients: local,
          maxSize: opts.maxMessageSize,
          received: (rcpt) => trace(rcpt.address),
          extraBranches: external.length > 0 && relay ? 1 : 0,
          // Several external recipients share one copy: no `for` clause naming one of them.
          extraPrefix: () => Buffer.from(trace('').replace(/\r\n\tfor <>;/, ';')),
          onExtraBranches: async ([branch]) => relayMessage(relay!, opts.hostname, from, external, branch!),
        });
      })().then(
        (ids) => {
          log.info({ session: session.id, local: ids.length, recipients: session.envelope.rcptTo.length }, 'message submitted');
          callback(null, '2.0.0 Ok: queued');
        },
        (err: unknown) => {
          stream.resume();
          const reply = toSmtpError(err);
          log.info({ session: session.id, code: reply.responseCode }, 'submission refused');
          if (stream.readableEnded || stream.destroyed) callback(reply);
          else stream.once('end', () => callback(reply));
        },
      );
    },
  });
  return listenSmtp(server, opts.host, opts.port);
}
