// Starting and stopping an smtp-server instance on a port (0 = ephemeral).
import type { AddressInfo } from 'node:net';
import type { SMTPServer } from 'smtp-server';

export interface RunningSmtp {
  port: number;
  close(): Promise<void>;
}

/** RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; more get 452. */
export const MAX_RECIPIENTS = 100;
export const MAX_CLIENTS = 500;
/**
 * On shutdown, open sessions get this long before being cut (smtp-server's
 * default is 30 s). A sender that got no 250 retries later, so cutting is safe.
 */
export const CLOSE_TIMEOUT_MS = 3000;

/** Recipients of the envelope, each address once (a duplicated RCPT must not store two copies). */
export function uniqueRecipients(rcptTo: Array<{ address: string }>): string[] {
  return [...new Set(rcptTo.map((r) => r.address.toLowerCase()))];
}

export async function listenSmtp(server: SMTPServer, host: string, port: number): Promise<RunningSmtp> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors on individual connections must not crash the process.
  server.on('error', () => undefined);
  const actual = (server.server.address() as AddressInfo).port;
  return {
    port: actual,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** RFC 5321 §4.4 trace field, one per recipient (its `for` clause names exactly one). */
export function receivedHeader(opts: { helo: string; clientHostname: string; remoteAddress: string; by: string; protocol: string; id: string; recipient: string }, date: string): string {
  // The HELO name is the client's choice: keep it to printable ASCII without
  // the characters that structure the field (parentheses, angle brackets, ';').
  const clean = (v: string) => v.replace(/[^\x21-\x7e]|[()<>;\\]/g, '').slice(0, 255);
  // Without reverse lookup smtp-server reports the client host name as "[ip]".
  const rdns = opts.clientHostname && !opts.clientHostname.startsWith('[') && opts.clientHostname !== opts.remoteAddress ? clean(opts.clientHostname) + ' ' : '';
  const from = `${clean(opts.helo) || 'unknown'} (${rdns}[${clean(opts.remoteAddress)}])`;
  return `Received: from ${from}\r\n\tby ${opts.by} (sealmail) with ${opts.protocol} id ${opts.id}\r\n\tfor <${opts.recipient}>; ${date}\r\n`;
}
