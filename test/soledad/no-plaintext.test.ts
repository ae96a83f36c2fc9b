import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF, createDb, dumpServerDb } from './helpers.js';

test('no plaintext on the server: contents, blob bytes, types and logical ids never leave the device unencrypted', async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const url = await createDb(couch, 'alice');
    const sol = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'pw', kdf: TEST_KDF, remote: { url }, liveSync: false }));
    const MARKER = 'ZEBRA-MARKER-7731';
    const logicalIds = ['msg-logical-id-aa11', 'msg-logical-id-bb22', 'mailbox-logical-cc33'];
    await sol.put('structure', logicalIds[0]!, { subject: `hello ${MARKER}`, from: 'bob@example.org' });
    await sol.bulkPut([
      { type: 'structure', id: logicalIds[1]!, content: { body: MARKER.repeat(3) } },
      { type: 'mailbox-type-secret', id: logicalIds[2]!, content: { name: 'INBOX' } },
    ]);
    const blob = Buffer.concat([Buffer.alloc(300 * 1024, 0x20), Buffer.from(MARKER), Buffer.alloc(10, 0x20)]);
    await sol.putBlob('blob-logical-dd44', blob);
    await sol.delete('structure', logicalIds[1]!);
    const res = await sol.syncOnce();
    assert.ok(res.pushed >= 6, `pushed ${res.pushed}`);

    const dump = await dumpServerDb(url);
    assert.ok(dump.docs >= 6, `the server holds the documents (${dump.docs})`);
    assert.ok(dump.attachments >= 2, 'blob chunks are on the server');
    const count = (needle: string): number => dump.text.split(needle).length - 1;
    assert.equal(count(MARKER), 0);
    for (const id of [...logicalIds, 'blob-logical-dd44']) assert.equal(count(id), 0, id);
    for (const word of ['structure', 'mailbox-type-secret', 'bob@example.org', 'INBOX']) assert.equal(count(word), 0, word);
    // Sanity check of the scanner itself: the data really is readable back on the device.
    assert.deepEqual(await sol.get('structure', logicalIds[0]!), { subject: `hello ${MARKER}`, from: 'bob@example.org' });
  } finally {
    await s.cleanup();
  }
});
