// Against the real sealmail provider (in-process, embedded CouchDB, loopback
// ports): our key is published to its directory with the session token,
// found by a correspondent through the directory and through its WKD, and
// the queue relays through its submission server (AUTH with the token),
// with a bounce for a recipient it refuses.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startProvider, type Provider } from '../../src/provider/index.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { OutgoingQueue, startSmtpGateway, type SmtpGateway } from '../../src/smtp/index.js';
import { TempSoledads } from '../keymanager/temp-soledad.js';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';

async function session(p: Provider, address: string): Promise<string> {
  const post = (url: string, body: unknown) =>
    fetch(new URL(url, p.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const reg = await post('/api/accounts', { address, password: 'correct horse battery' });
  assert.equal(reg.status, 201, await reg.text());
  const login = await post('/api/sessions', { address, password: 'correct horse battery' });
  assert.equal(login.status, 200);
  return ((await login.json()) as { token: string }).token;
}

describe('with the real provider', () => {
  const stores = new TempSoledads();
  let dataDir: string;
  let provider: Provider;
  let alice: KeyManager;
  let aliceToken: string;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
    provider = await startProvider({ dataDir, domains: ['example.org'], scrypt: { N: 1024 } });
    aliceToken = await session(provider, ALICE);
    alice = new KeyManager({ store: await stores.create(), address: ALICE, provider: { url: provider.httpUrl, token: aliceToken }, wkd: false });
  });

  after(async () => {
    await stores.closeAll();
    await provider.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes our key; a correspondent finds it in the directory and by WKD', async () => {
    const own = await alice.ensureOwnKey();
    assert.equal(own.published?.fingerprint, own.fingerprint, 'the provider accepted it');

    const bobToken = await session(provider, BOB);
    const bob = new KeyManager({ store: await stores.create(), address: BOB, provider: { url: provider.httpUrl, token: bobToken }, wkd: false });
    await bob.ensureOwnKey();
    const viaDirectory = await bob.lookup(ALICE);
    assert.ok(viaDirectory.found && viaDirectory.key.fingerprint === own.fingerprint && viaDirectory.key.level === 'provider');

    const stranger = new KeyManager({
      store: await stores.create(),
      address: 'carol@elsewhere.net',
      wkd: { advanced: () => 'http://127.0.0.1:9', direct: () => provider.httpUrl },
    });
    const viaWkd = await stranger.lookup(ALICE);
    assert.ok(viaWkd.found && viaWkd.key.fingerprint === own.fingerprint && viaWkd.key.level === 'wkd');
  });

  it('relays through the submission server with the token; a refused recipient bounces', async () => {
    await alice.ensureOwnKey();
    const bounces: Buffer[] = [];
    const queue = new OutgoingQueue({
      store: (await stores.create()).local,
      relay: { host: '127.0.0.1', port: provider.submissionPort, user: ALICE, token: aliceToken },
      deliverBounce: async (raw) => void bounces.push(raw),
      backoff: { initialMs: 50 },
    });
    await queue.start();
    const gateway: SmtpGateway = await startSmtpGateway({ port: 0, queue, accounts: [{ address: ALICE, password: 'pw', keymanager: alice, alwaysEncrypt: false }] });
    try {
      await nodemailer
        .createTransport({ host: '127.0.0.1', port: gateway.port, secure: false, ignoreTLS: true, auth: { user: ALICE, pass: 'pw' } })
        .sendMail({ from: ALICE, to: [BOB, 'nobody@example.org'], subject: 'via the provider', text: 'hello' });
      await queue.idle();
      const items = await queue.list();
      assert.equal(items.find((i) => i.to === BOB)?.state, 'sent');
      assert.equal(items.find((i) => i.to === 'nobody@example.org')?.state, 'bounced');
      assert.equal(bounces.length, 1);
      assert.match(bounces[0].toString(), /Final-Recipient: rfc822; nobody@example\.org/);
      assert.match(bounces[0].toString(), /Status: 5\.\d\.\d/);
    } finally {
      await gateway.close();
      await queue.stop();
    }
  });
});
