// The summary cache (ENVELOPE/BODY/BODYSTRUCTURE bytes and search fields by
// content hash) over real Soledad: filled when messages are stored, kept
// across a restart in the device-local store, dropped when the analyzer
// version changes (its structures would be derived again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { defaultAnalyzer } from '../../src/mail/store/analyzer.js';
import { SummaryCache } from '../../src/mail/store/summary-cache.js';
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

test('persisted summaries with non-ASCII text read back exactly, whatever the chunk boundaries', async () => {
  const s = new Scratch();
  try {
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF }));
    const search = (i: number) => ({ from: `é ${i}`, to: '', cc: '', bcc: '', subject: `${i} ` + 'é€'.repeat(400), sentDate: null, messageId: null, headerNames: ['subject'] });
    const imap = (i: number) => ({ envelope: `("caf\xe9 ${i}" NIL)`, body: '("text" "plain")', bodystructure: '("text" "plain" \xff)' });
    const before = new SummaryCache();
    for (let i = 0; i < 300; i++) before.put(`h${i}`, { imap: imap(i), search: search(i) });
    before.persistIn(sol.local, 7);
    await before.save(sol.local, 7);
    assert.ok((await sol.local.blobSize('summary-cache'))! > 4 * 32 * 1024, 'spans several blob chunks');

    const after = new SummaryCache();
    after.persistIn(sol.local, 7);
    await after.loaded;
    assert.equal(after.size, 300);
    for (let i = 0; i < 300; i++) {
      const got = after.get(`h${i}`)!;
      assert.deepEqual(got.search, search(i));
      assert.equal(got.envelope.toString('latin1'), imap(i).envelope);
      assert.deepEqual([...got.bodystructure].slice(-2), [0xff, 0x29]);
    }
    const other = new SummaryCache();
    other.persistIn(sol.local, 8); // another analyzer version: nothing is used
    await other.loaded;
    assert.equal(other.size, 0);
  } finally {
    await s.cleanup();
  }
});
