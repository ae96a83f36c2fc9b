// A real SMTP gateway for the security tests: a real KeyManager over a real
// Soledad store, the real outgoing queue relaying to a local sink, and a raw
// line-based SMTP client that sends exactly the bytes it is given.
import { TempSoledads } from '../keymanager/temp-soledad.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { OutgoingQueue, startSmtpGateway, type SmtpGateway } from '../../src/smtp/index.js';
import type { SmtpGatewayOptions } from '../../src/smtp/gateway.js';
import { RawSocket } from '../support/raw-socket.js';
import { SINK_TOKEN, SINK_USER, startSink, type Sink } from '../smtp/sink.js';

export const SMTP_USER = SINK_USER;
export const SMTP_PASSWORD = 'local-password-123';
/** Has a key in the sender's keyring; any other recipient gets signed-only mail. */
export const ENCRYPTED_RECIPIENT = 'erin@example.net';

export interface SmtpEnv {
  gateway: SmtpGateway;
  sink: Sink;
  close(): Promise<void>;
}

export async function startSmtpEnv(extra: Partial<SmtpGatewayOptions> = {}): Promise<SmtpEnv> {
  const stores = new TempSoledads();
  const sink = await startSink();
  const keys = new KeyManager({ store: await stores.create(), address: SMTP_USER, wkd: false });
  await keys.ensureOwnKey();
  // A recipient with a key, so hostile data also goes through PGP/MIME encryption.
  const recipient = new KeyManager({ store: new MemoryDocumentStore(), address: ENCRYPTED_RECIPIENT, wkd: false });
  await recipient.ensureOwnKey();
  await keys.importKeys(await recipient.exportPublicKey());
  const queue = new OutgoingQueue({
    store: (await stores.create()).local,
    relay: { host: '127.0.0.1', port: sink.port, user: SINK_USER, token: SINK_TOKEN },
    deliverBounce: async () => undefined,
    backoff: { initialMs: 50 },
  });
  await queue.start();
  const gateway = await startSmtpGateway({
    port: 0,
    queue,
    accounts: [{ address: SMTP_USER, password: SMTP_PASSWORD, keymanager: keys, alwaysEncrypt: false }],
    ...extra,
  });
  return {
    gateway,
    sink,
    async close() {
      await gateway.close();
      await queue.stop();
      await sink.close();
      await stores.closeAll();
    },
  };
}

/** A raw SMTP connection: write bytes, wait for replies by pattern. */
export class RawSmtp extends RawSocket {
  static async open(port: number): Promise<RawSmtp> {
    const c = new RawSmtp(await RawSocket.connect(port), 10_000);
    await c.readUntil(/^220 .*\r\n/m);
    return c;
  }

  /** Sends one line and returns the final line of the reply (code + space). */
  async command(line: string): Promise<string> {
    this.write(line + '\r\n');
    return this.readUntil(/^\d{3} [^\r\n]*\r\n/m);
  }

  async authPlain(user: string, password: string): Promise<string> {
    return this.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }
}
