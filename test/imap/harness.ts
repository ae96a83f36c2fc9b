// Test harness for the IMAP engine: a real server on 127.0.0.1 port 0 over an
// in-memory MailStore (the real store code without disk/crypto), plus clients.
import { ImapFlow } from 'imapflow';
import { startImapServer, type ImapServer, type ImapServerOptions } from '../../src/imap/server.js';
import { RawSocket } from '../support/raw-socket.js';
import { createMemoryMailStore, type MemoryMailStore } from '../support/memory-mailstore.js';

export const USER = 'alice@example.org';
export const PASSWORD = 'correct horse';

export interface Harness {
  server: ImapServer;
  store: MemoryMailStore;
  client(opts?: { secure?: boolean; tls?: object; doSTARTTLS?: boolean }): Promise<ImapFlow>;
  close(): Promise<void>;
}

export async function startHarness(extra: Partial<ImapServerOptions> = {}): Promise<Harness> {
  const store = await createMemoryMailStore();
  const server = await startImapServer({
    authenticate: async (user, password) => (user === USER && password === PASSWORD ? store : null),
    failedLoginDelayMs: 10,
    ...extra,
  });
  const clients: ImapFlow[] = [];
  return {
    server,
    store,
    async client(opts = {}) {
      const c = new ImapFlow({
        host: '127.0.0.1',
        port: server.port,
        secure: false,
        auth: { user: USER, pass: PASSWORD },
        logger: false,
        ...opts,
      } as ConstructorParameters<typeof ImapFlow>[0]);
      // A server-side close (LOGOUT, BYE) surfaces as an 'error' event; the test asserts on results instead.
      c.on('error', () => undefined);
      clients.push(c);
      await c.connect();
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
      await server.close();
      await store.close();
    },
  };
}

/** A line-oriented raw connection for exact protocol checks. */
export class RawConnection extends RawSocket {
  static async open(port: number): Promise<RawConnection> {
    const c = new RawConnection(await RawSocket.connect(port), 5000);
    await c.readUntil(/^\* OK .*\r\n/m);
    return c;
  }

  /** Sends a command and returns all output up to its tagged response. */
  async command(tag: string, text: string): Promise<string> {
    this.write(`${tag} ${text}\r\n`);
    return this.readUntil(new RegExp(`^${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`, 'm'));
  }

  async login(): Promise<void> {
    const r = await this.command('L1', `LOGIN "${USER}" "${PASSWORD}"`);
    if (!/^L1 OK/m.test(r)) throw new Error(r);
  }
}
