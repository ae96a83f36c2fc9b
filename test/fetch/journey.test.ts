// The incoming journey with real parts: a sender (nodemailer) → the
// provider's MX over TCP (encrypts on arrival) → the user's database on the
// embedded CouchDB → Soledad live sync → FetchLoop → mail store → IMAP
// (imapflow, with the IDLE/EXISTS an open session sees). Mail made by the
// real `gpg` binary is opened and its signature checked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import type { ImapFlow } from 'imapflow';
import { createGpg, type Gpg } from '../support/gpg.js';
import { message, sendRaw, startFetchAccount, waitFor, type FetchAccountFixture } from '../support/fetch-account.js';
import { removeHeaderFields, STATUS_HEADERS } from '../../src/fetch/status-headers.js';
import { walkFiles } from '../provider/helpers.js';

const ALICE = 'alice@example.org';

let fx: FetchAccountFixture;
let client: ImapFlow;
let gpg: Gpg;
let carolFpr: string;

/** The message with this Message-ID as IMAP serves it (exactly once). */
async function served(messageId: string): Promise<Buffer> {
  return waitFor(`message ${messageId} over IMAP`, async () => {
    // imapflow skips a FETCH on a mailbox it believes empty: NOOP lets it hear EXISTS.
    await client.noop();
    const all = await client.fetchAll('1:*', { uid: true, source: true });
    const hits = all.filter((m) => m.source?.includes(`Message-ID: <${messageId}>`));
    assert.ok(hits.length <= 1, `message ${messageId} delivered ${hits.length} times`);
    return hits[0]?.source ?? null;
  });
}

function header(raw: Buffer, name: string): string[] {
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1').replace(/\r\n[ \t]/g, ' ');
  return head
    .split('\r\n')
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
}

/** What the sender handed to the MX: ours removed, then the MX's Received: field (first one) removed. */
function withoutOurHeaders(raw: Buffer): Buffer {
  const noStatus = removeHeaderFields(raw, STATUS_HEADERS);
  assert.match(noStatus.subarray(0, 9).toString(), /^Received:/);
  // The MX prepends exactly one folded Received: field; test messages carry none of their own.
  return removeHeaderFields(noStatus, ['received']);
}

function pgpMimeEncrypted(headers: string[], armored: string): Buffer {
  const b = `enc-${crypto.randomBytes(6).toString('hex')}`;
  return message(
    [...headers, 'MIME-Version: 1.0', `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="${b}"`],
    [
      'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)',
      `--${b}`,
      'Content-Type: application/pgp-encrypted',
      'Content-Description: PGP/MIME version identification',
      '',
      'Version: 1',
      '',
      `--${b}`,
      'Content-Type: application/octet-stream; name="encrypted.asc"',
      'Content-Disposition: inline; filename="encrypted.asc"',
      '',
      armored.replace(/\r?\n/g, '\r\n'),
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}

function baseHeaders(from: string, subject: string, id: string): string[] {
  return [`From: ${from}`, `To: ${ALICE}`, `Subject: ${subject}`, `Date: ${new Date().toUTCString()}`, `Message-ID: <${id}>`];
}

before(async () => {
  fx = await startFetchAccount(ALICE);
  fx.account.fetch.start();
  client = await fx.imapClient();
  await client.mailboxOpen('INBOX');
  gpg = await createGpg();
  carolFpr = await gpg.generateKey('carol@elsewhere.net');
  await gpg.generateKey('dave@elsewhere.net');
  await gpg.importKey(await fx.account.keys.exportPublicKey());
  // Alice knows Carol's key (e.g. from an earlier exchange); Dave is a stranger.
  await fx.account.keys.importKeys(await gpg.exportPublic('carol@elsewhere.net'));
});

after(async () => {
  await gpg?.close();
  await fx?.dispose();
});

describe('incoming journey: nodemailer → MX → sync → fetch → IMAP', { timeout: 120_000 }, () => {
  it('plain mail arrives byte-exact with status headers; the provider holds no plaintext', async () => {
    const marker = `plaintext-marker-${crypto.randomBytes(8).toString('hex')}`;
    const raw = message(baseHeaders('Bob <bob@elsewhere.net>', 'plain hello', 'plain-1@elsewhere.net'), `Hello Alice,\r\n${marker}\r\n`);
    // A second session sits in IDLE (RFC 2177): it must hear of the message at once.
    const idler = await fx.imapClient({ disableAutoIdle: true });
    await idler.mailboxOpen('INBOX');
    const before = idler.mailbox ? idler.mailbox.exists : 0;
    const heard = new Promise<number>((resolve) => idler.on('exists', (e: { count: number }) => resolve(e.count)));
    const idling = idler.idle();
    const sentAt = Date.now();
    await sendRaw(fx.provider.mxPort, 'bob@elsewhere.net', [ALICE], raw);
    assert.equal(await heard, before + 1, 'EXISTS during IDLE');
    const latency = Date.now() - sentAt;
    assert.ok(latency < 10_000, `EXISTS after ${latency} ms`);
    await idler.logout();
    await idling.catch(() => undefined);
    const got = await served('plain-1@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Encryption'), ['none']);
    assert.deepEqual(header(got, 'X-Sealmail-Signature'), ['none']);
    assert.ok(withoutOurHeaders(got).equals(raw), 'the original bytes, unchanged');
    assert.match(header(got, 'Received')[0]!, /for <alice@example\.org>/);
    for (const f of walkFiles(fx.provider.dataDir)) assert.ok(!fs.readFileSync(f).includes(marker), `plaintext in ${f}`);
    await waitFor('incoming doc removed', async () => {
      for await (const _ of fx.account.soledad.incoming({ live: false })) return false;
      return true;
    });
  });

  it('PGP/MIME signed and encrypted by gpg: decrypted, signature valid with the fingerprint', async () => {
    const inner = 'Content-Type: text/plain; charset=utf-8\r\n\r\nSecret hello from gpg, PGP/MIME.\r\n';
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', 'carol@elsewhere.net', '-r', ALICE], inner)).toString();
    const raw = pgpMimeEncrypted(baseHeaders('Carol <carol@elsewhere.net>', 'pgp/mime', 'gpg-mime@elsewhere.net'), armored);
    await sendRaw(fx.provider.mxPort, 'carol@elsewhere.net', [ALICE], raw);
    const got = await served('gpg-mime@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Encryption'), ['decrypted']);
    assert.deepEqual(header(got, 'X-Sealmail-Signature'), [`valid; fpr=${carolFpr}`]);
    assert.deepEqual(header(got, 'Subject'), ['pgp/mime'], 'outer headers kept');
    assert.ok(got.includes('Secret hello from gpg, PGP/MIME.'));
    assert.ok(!got.includes('-----BEGIN PGP MESSAGE-----'));
  });

  it('inline PGP signed and encrypted by gpg: decrypted, signature valid', async () => {
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', 'carol@elsewhere.net', '-r', ALICE], 'Inline secret from gpg.\n')).toString();
    const raw = message([...baseHeaders('carol@elsewhere.net', 'inline', 'gpg-inline@elsewhere.net'), 'Content-Type: text/plain; charset=us-ascii'], armored.replace(/\r?\n/g, '\r\n'));
    await sendRaw(fx.provider.mxPort, 'carol@elsewhere.net', [ALICE], raw);
    const got = await served('gpg-inline@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Encryption'), ['decrypted']);
    assert.deepEqual(header(got, 'X-Sealmail-Signature'), [`valid; fpr=${carolFpr}`]);
    assert.ok(got.includes('Inline secret from gpg.'));
  });

  it('signed by a key alice does not have: unknown-key (with the key id)', async () => {
    const inner = 'Content-Type: text/plain; charset=utf-8\r\n\r\nFrom a stranger.\r\n';
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', 'dave@elsewhere.net', '-r', ALICE], inner)).toString();
    const raw = pgpMimeEncrypted(baseHeaders('Dave <dave@elsewhere.net>', 'stranger', 'gpg-unknown@elsewhere.net'), armored);
    await sendRaw(fx.provider.mxPort, 'dave@elsewhere.net', [ALICE], raw);
    const got = await served('gpg-unknown@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Encryption'), ['decrypted']);
    assert.match(header(got, 'X-Sealmail-Signature')[0]!, /^unknown-key(; keyid=[0-9A-F]{16})?$/);
    assert.ok(got.includes('From a stranger.'));
  });

  it('X-Sealmail-* headers from outside are removed; ours are the only ones', async () => {
    const raw = message(
      [
        'X-Sealmail-Signature: valid; fpr=0000000000000000000000000000000000000000',
        ...baseHeaders('mallory@elsewhere.net', 'spoof', 'spoof@elsewhere.net'),
        'X-Sealmail-Encryption: decrypted',
        'x-sealmail-signature: valid;',
        '\tfpr=FOLDED',
      ],
      'trust me\r\n',
    );
    await sendRaw(fx.provider.mxPort, 'mallory@elsewhere.net', [ALICE], raw);
    const got = await served('spoof@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Encryption'), ['none']);
    assert.deepEqual(header(got, 'X-Sealmail-Signature'), ['none']);
    assert.ok(!got.includes('FOLDED') && !got.includes('fpr=0000'));
    assert.ok(got.includes('\r\n\r\ntrust me\r\n'));
  });

  it('an Autocrypt header is imported: the next signed mail from that sender verifies', async () => {
    const erinFpr = await gpg.generateKey('erin@elsewhere.net');
    const keydata = (await gpg.ok(['--export', 'erin@elsewhere.net'])).toString('base64').replace(/.{72}/g, '$&\r\n ');
    const raw = message(
      [...baseHeaders('Erin <erin@elsewhere.net>', 'hi with autocrypt', 'ac-1@elsewhere.net'), `Autocrypt: addr=erin@elsewhere.net; prefer-encrypt=mutual; keydata=\r\n ${keydata}`],
      'Hello, here is my key.\r\n',
    );
    await sendRaw(fx.provider.mxPort, 'erin@elsewhere.net', [ALICE], raw);
    await served('ac-1@elsewhere.net');
    const ring = await fx.account.keys.keyring.load('erin@elsewhere.net');
    assert.ok(ring.keys.some((k) => k.fingerprint.toUpperCase() === erinFpr), 'Erin key in the keyring');

    const inner = 'Content-Type: text/plain; charset=utf-8\r\n\r\nSigned by Erin.\r\n';
    const armored = (await gpg.ok(['--armor', '--encrypt', '--sign', '-u', 'erin@elsewhere.net', '-r', ALICE], inner)).toString();
    await sendRaw(fx.provider.mxPort, 'erin@elsewhere.net', [ALICE], pgpMimeEncrypted(baseHeaders('erin@elsewhere.net', 'signed', 'ac-2@elsewhere.net'), armored));
    const got = await served('ac-2@elsewhere.net');
    assert.deepEqual(header(got, 'X-Sealmail-Signature'), [`valid; fpr=${erinFpr}`]);
  });

  it('a key attached as application/pgp-keys is taken for the sender only, at the lowest level', async () => {
    const frankFpr = await gpg.generateKey('frank@elsewhere.net');
    const graceFpr = await gpg.generateKey('grace@elsewhere.net');
    const b = 'keys-boundary';
    const raw = message(
      [...baseHeaders('Frank <frank@elsewhere.net>', 'my key', 'keys-1@elsewhere.net'), 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${b}"`],
      [
        `--${b}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        'My key is attached, and Grace\'s (which you should not take from me).',
        `--${b}`,
        'Content-Type: application/pgp-keys; name="frank.asc"',
        'Content-Disposition: attachment; filename="frank.asc"',
        '',
        (await gpg.exportPublic('frank@elsewhere.net')).replace(/\r?\n/g, '\r\n'),
        `--${b}`,
        'Content-Type: application/pgp-keys; name="grace.gpg"',
        'Content-Transfer-Encoding: base64',
        '',
        (await gpg.ok(['--export', 'grace@elsewhere.net'])).toString('base64').replace(/.{76}/g, '$&\r\n'),
        `--${b}--`,
        '',
      ].join('\r\n'),
    );
    await sendRaw(fx.provider.mxPort, 'frank@elsewhere.net', [ALICE], raw);
    const got = await served('keys-1@elsewhere.net');
    assert.ok(withoutOurHeaders(got).equals(raw), 'the message itself is untouched');
    const frank = await fx.account.keys.keyring.load('frank@elsewhere.net');
    assert.deepEqual(frank.keys.map((k) => [k.fingerprint, k.level]), [[frankFpr, 'gossip']]);
    const grace = await fx.account.keys.keyring.load('grace@elsewhere.net');
    assert.ok(!grace.keys.some((k) => k.fingerprint === graceFpr), 'not taken for an address other than From');
  });
});
