// The summary cache (ENVELOPE/BODY/BODYSTRUCTURE bytes and search fields by
// content hash) over real Soledad: filled when messages are stored, kept
// across a restart in the device-local store, dropped when the analyzer
// version changes (its structures would be derived again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { defaultAnalyzer } from '../../src/mail/store/analyzer.js';
import { Scratch, TEST_KDF } from '../soledad/helpers.js';

const message = (n: number) =>
  Buffer.from(`From: Sender ${n} <s${n}@example.org>\r\nSubject: caf\u00e9 =?utf-8?q?n=C3=A9${n}?=\r\nMessage-ID: <${n}@example.org>\r\n\r\nbody ${n}\r\n`, 'latin1');

test('summaries of stored messages survive a restart and match the structure documents', async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    let sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    let mail = await openMailStore({ docs: sol, local: sol.local });
    for (let n = 1; n <= 3; n++) await mail.append('INBOX', message(n));
    const { messages } = await mail.messages('INBOX');
    assert.equal(mail.summaries?.size, 3, 'filled when the messages were stored');
    await mail.close();
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local });
    await mail.summaries!.loaded;
    assert.equal(mail.summaries!.size, 3);
    for (const m of messages) {
      const got = mail.summaries!.get(m.hash)!;
      const structure = await mail.structure(m.hash);
      assert.equal(got.envelope.toString('latin1'), structure.imap.envelope);
      assert.equal(got.bodystructure.toString('latin1'), structure.imap.bodystructure);
      assert.deepEqual(got.search, structure.search);
    }
    await mail.close();
    await sol.close();

    // Another analyzer version: the persisted summaries are not used.
    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local, analyzer: { ...defaultAnalyzer, version: (defaultAnalyzer.version ?? 0) + 1 } });
    await mail.summaries!.loaded;
    assert.equal(mail.summaries!.size, 0);
    await mail.close();
    await sol.close();
  } finally {
    await s.cleanup();
  }
});

test('a summary cached while the persisted ones load is kept, and saved with them', async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    let sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    let mail = await openMailStore({ docs: sol, local: sol.local });
    await mail.append('INBOX', message(1));
    await mail.close();
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local });
    await mail.append('INBOX', message(2));
    await mail.summaries!.loaded;
    assert.equal(mail.summaries!.size, 2);
    await mail.close();
    await sol.close();

    sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
    mail = await openMailStore({ docs: sol, local: sol.local });
    await mail.summaries!.loaded;
    assert.equal(mail.summaries!.size, 2);
    await mail.close();
    await sol.close();
  } finally {
    await s.cleanup();
  }
});
