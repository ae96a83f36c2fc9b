// Fixtures for the fetch-loop tests: a real provider (embedded CouchDB, MX on
// a loopback port), one account opened the way the daemon opens it (Soledad
// syncing through the gateway, keymanager, mail store, FetchLoop), and the
// IMAP server in front of its mail store, plus small senders and waiters.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { openAccount, type AccountRuntime } from '../../src/daemon/account.js';
import { startImapServer, type ImapServer } from '../../src/imap/server.js';
import { startTestProvider, type TestProvider } from '../provider/helpers.js';

export const TEST_KDF = { N: 1024, r: 8, p: 1 };
export const LOGIN_COST = 1024;
export const LOCAL_PASSWORD = 'local-imap-password';

export interface FetchAccountFixture {
  provider: TestProvider;
  address: string;
  passphrase: string;
  /** The daemon's data dir (the account's store is under it). */
  dataDir: string;
  account: AccountRuntime;
  imap: ImapServer;
  /** An imapflow client logged in to the account (closed by dispose). */
  imapClient(options?: Partial<ImapFlowOptions>): Promise<ImapFlow>;
  /** Closes the account (fetch loop, store) but keeps its data; reopen() opens it again. */
  reopen(): Promise<AccountRuntime>;
  dispose(): Promise<void>;
}

/** Starts a provider and creates an account on it; the fetch loop is not started (the test decides). */
export async function startFetchAccount(address = 'alice@example.org'): Promise<FetchAccountFixture> {
  const provider = await startTestProvider();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-fetch-'));
  const passphrase = 'a test passphrase';
  const config = { address, providerUrl: provider.httpUrl, localPassword: LOCAL_PASSWORD, alwaysEncrypt: false };
  const clients: ImapFlow[] = [];
  const fixture: FetchAccountFixture = {
    provider,
    address,
    passphrase,
    dataDir,
    account: await openAccount({ config, dataDir, passphrase, create: 'new', kdf: TEST_KDF, loginCost: LOGIN_COST }),
    imap: await startImapServer({
      port: 0,
      failedLoginDelayMs: 0,
      // The current runtime's store: reopen() swaps it.
      authenticate: async (user, password) =>
        user === address && password === LOCAL_PASSWORD ? fixture.account.mail : null,
    }),
    async imapClient(options = {}) {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: fixture.imap.port,
        secure: false,
        auth: { user: address, pass: LOCAL_PASSWORD },
        logger: false,
        ...options,
      });
      await client.connect();
      clients.push(client);
      return client;
    },
    async reopen() {
      await fixture.account.close();
      fixture.account = await openAccount({ config, dataDir, passphrase, loginCost: LOGIN_COST });
      return fixture.account;
    },
    async dispose() {
      for (const c of clients) await c.logout().catch(() => c.close());
      await fixture.imap.close();
      await fixture.account.close().catch(() => undefined);
      await provider.dispose();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** Sends a raw message to the MX exactly as given (nodemailer's raw mode, no rewriting). */
export async function sendRaw(mxPort: number, from: string, to: string[], raw: Buffer): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mxPort, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope: { from, to }, raw });
  } finally {
    transport.close();
  }
}

/** Polls `check` until it returns a truthy value (robust under load: no fixed sleeps). */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A CRLF message from header lines and a body. */
export function message(headers: string[], body: string): Buffer {
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`, 'utf8');
}

/** Writes an incoming document into the account's provider database through the gateway, as the MX does. */
export async function putIncoming(fx: FetchAccountFixture, payload: Buffer, receivedAt = new Date().toISOString()): Promise<string> {
  const id = `incoming-${crypto.randomUUID()}`;
  const { couchUrl, token } = fx.account.session;
  const res = await fetch(`${couchUrl.replace(/\/$/, '')}/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      sealmail: 'incoming',
      v: 1,
      receivedAt,
      _attachments: { 'message.pgp': { content_type: 'application/pgp-encrypted', data: payload.toString('base64') } },
    }),
  });
  if (res.status !== 201) throw new Error(`PUT ${id}: ${res.status} ${await res.text()}`);
  return id;
}

/** The raw message encrypted (binary OpenPGP) to one public key, as the MX stores it. */
export async function encryptTo(armoredPublicKey: string, raw: Buffer): Promise<Buffer> {
  const encryptionKeys = await openpgp.readKey({ armoredKey: armoredPublicKey });
  const data = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: raw }), encryptionKeys, format: 'binary' });
  return Buffer.from(data as Uint8Array);
}

/** Ids of the incoming documents now in the account's local store. */
export async function incomingIds(account: AccountRuntime): Promise<string[]> {
  const ids: string[] = [];
  for await (const doc of account.soledad.incoming({ live: false })) ids.push(doc.id);
  return ids;
}
