// A message composed the way a mail client does it (text, HTML, a binary
// attachment, 8-bit headers) arrives intact after encryption, relay and
// gpg decryption; one over the size limit is refused with 552.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { TempSoledads } from '../keymanager/temp-soledad.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { headerValue, parseContentType, parseHeader, splitEntity, splitMultipart } from '../../src/keymanager/mime.js';
import { OutgoingQueue, startSmtpGateway, type SmtpGateway } from '../../src/smtp/index.js';
import { createGpg, type Gpg } from '../support/gpg.js';
import { SINK_TOKEN, SINK_USER, startSink, type Sink } from './sink.js';

const ALICE = SINK_USER;
const BOB = 'bob@example.net';
const LIMIT = 2 * 1024 * 1024;

describe('composed messages through the gateway', () => {
  let gpg: Gpg;
  const stores = new TempSoledads();
  let sink: Sink;
  let queue: OutgoingQueue;
  let gateway: SmtpGateway;

  before(async () => {
    gpg = await createGpg();
    sink = await startSink();
    const alice = new KeyManager({ store: await stores.create(), address: ALICE, wkd: false });
    await alice.ensureOwnKey();
    await gpg.generateKey(BOB);
    await alice.importKeys(await gpg.exportPublic(BOB));
    await gpg.importKey(await alice.exportPublicKey());
    queue = new OutgoingQueue({
      store: (await stores.create()).local,
      relay: { host: '127.0.0.1', port: sink.port, user: SINK_USER, token: SINK_TOKEN },
      deliverBounce: async () => assert.fail('no bounce expected'),
    });
    await queue.start();
    gateway = await startSmtpGateway({ port: 0, queue, maxSize: LIMIT, accounts: [{ address: ALICE, password: 'pw', keymanager: alice, alwaysEncrypt: false }] });
  });

  after(async () => {
    await gateway.close();
    await queue.stop();
    await sink.close();
    await gpg.close();
    await stores.closeAll();
  });

  const client = () => nodemailer.createTransport({ host: '127.0.0.1', port: gateway.port, secure: false, ignoreTLS: true, auth: { user: ALICE, pass: 'pw' } });

  it('text, HTML and a 1 MB attachment survive encryption, relay and gpg', async () => {
    const attachment = crypto.randomBytes(1024 * 1024);
    await client().sendMail({
      from: `Älice <${ALICE}>`,
      to: `Bob <${BOB}>`,
      subject: 'Bericht über Größen ☃',
      text: 'Hallo Bob, anbei der Bericht.\n',
      html: '<p>Hallo Bob, anbei der <b>Bericht</b>.</p>',
      attachments: [{ filename: 'bericht.bin', content: attachment }],
    });
    await queue.idle();
    assert.equal(sink.received.length, 1);
    const { header, body } = splitEntity(sink.received[0].raw);
    const fields = parseHeader(header);
    const ct = parseContentType(headerValue(fields, 'content-type'));
    assert.equal(ct.mime, 'multipart/encrypted');
    assert.equal(headerValue(fields, 'subject'), '...');
    const armored = splitEntity(splitMultipart(body, ct.params.boundary)[1]).body;
    const r = await gpg.run(['--status-fd', '2', '--decrypt'], armored);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /GOODSIG/);
    const inner = await simpleParser(r.stdout);
    assert.equal(inner.subject, 'Bericht über Größen ☃', 'protected Subject inside');
    assert.equal(inner.text?.trim(), 'Hallo Bob, anbei der Bericht.');
    assert.match(String(inner.html), /<b>Bericht<\/b>/);
    assert.equal(inner.attachments.length, 1);
    assert.equal(inner.attachments[0].filename, 'bericht.bin');
    assert.ok(inner.attachments[0].content.equals(attachment));
  });

  it('refuses a message over the size limit with 552 and queues nothing', async () => {
    const before = (await queue.list()).length;
    await assert.rejects(
      client().sendMail({ from: ALICE, to: BOB, subject: 'big', text: 'x', attachments: [{ filename: 'big.bin', content: crypto.randomBytes(LIMIT) }] }),
      (err: Error & { responseCode?: number }) => err.responseCode === 552,
    );
    assert.equal((await queue.list()).length, before);
  });
});
