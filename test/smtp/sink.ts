// A local SMTP server playing the provider's submission server: AUTH with a
// token, records what it receives, and can refuse chosen recipients.
import net from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
}

export interface Sink {
  port: number;
  received: Received[];
  /** Recipient → reply for RCPT TO: a number of 4xx replies first, or a permanent 5xx. */
  rules: Map<string, { code: number; text: string; times?: number }>;
  close(): Promise<void>;
}

export const SINK_USER = 'alice@example.org';
export const SINK_TOKEN = 'token-123';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startSink(port = 0): Promise<Sink> {
  const received: Received[] = [];
  const rules = new Map<string, { code: number; text: string; times?: number }>();
  const server = new SMTPServer({
    secure: false,
    hideSTARTTLS: true,
    disabledCommands: ['STARTTLS'],
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _s, cb) {
      if (auth.username === SINK_USER && auth.password === SINK_TOKEN) return cb(null, { user: auth.username });
      cb(Object.assign(new Error('bad token'), { responseCode: 535 }));
    },
    onRcptTo(addr, _s, cb) {
      const rule = rules.get(addr.address);
      if (rule && (rule.times === undefined || rule.times > 0)) {
        if (rule.times !== undefined) rule.times--;
        return cb(Object.assign(new Error(rule.text), { responseCode: rule.code }));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    port: (server.server.address() as net.AddressInfo).port,
    received,
    rules,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
