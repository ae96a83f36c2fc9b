// The fetch loop's status memos (src/fetch/status-memo.ts): a batch's memos
// are one document, gone once its last message is done; a restart finds
// them again, the later memo of a message winning; memos written by earlier
// versions (one document per message) are still read and deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { StatusMemoStore } from '../../src/fetch/status-memo.js';
import type { MessageStatus } from '../../src/fetch/status-headers.js';

const unknownKey: MessageStatus = { encryption: 'decrypted', signature: 'unknown-key' };
const valid: MessageStatus = { encryption: 'decrypted', signature: 'valid; fpr=ABCD' };

async function docs(local: MemoryDocumentStore, type: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const d of local.query(type)) ids.push(d.id);
  return ids;
}

test('a batch\'s memos are one document, deleted with the last of them', async () => {
  const local = new MemoryDocumentStore();
  const memo = new StatusMemoStore(local);
  await memo.put([
    { id: 'in-1', status: unknownKey },
    { id: 'in-2', status: valid },
    { id: 'in-3', status: unknownKey },
  ]);
  assert.equal((await docs(local, 'fetch:status-batch')).length, 1);
  assert.deepEqual(await memo.get('in-2'), valid);
  assert.equal(await memo.get('in-4'), null);
  await memo.delete('in-1');
  await memo.delete('in-3');
  await memo.delete('in-4'); // never remembered: nothing to do
  assert.equal((await docs(local, 'fetch:status-batch')).length, 1, 'in-2 still needs it');

  // A restart (a new store over the same documents): only in-2's incoming document is still there.
  const incoming = new Set(['in-2']);
  const stillIncoming = async (ids: string[]) => new Set(ids.filter((id) => incoming.has(id)));
  const again = new StatusMemoStore(local, stillIncoming);
  assert.deepEqual(await again.get('in-2'), valid);
  assert.equal(await again.get('in-1'), null, 'done before the restart: forgotten');
  await again.delete('in-2');
  assert.deepEqual(await docs(local, 'fetch:status-batch'), []);

  // A crash left a document whose messages are all done (by this device or another): it goes at the first read.
  await memo.put([{ id: 'in-5', status: valid }]);
  incoming.clear();
  const third = new StatusMemoStore(local, stillIncoming);
  assert.equal(await third.get('in-5'), null);
  assert.deepEqual(await docs(local, 'fetch:status-batch'), []);
  await local.close();
});

test('a message remembered twice: the later memo wins, here and after a restart; the earlier document goes', async () => {
  const local = new MemoryDocumentStore();
  const memo = new StatusMemoStore(local);
  await memo.put([{ id: 'in-1', status: unknownKey }]);
  await memo.put([
    { id: 'in-1', status: valid },
    { id: 'in-2', status: unknownKey },
  ]);
  assert.deepEqual(await memo.get('in-1'), valid);
  assert.equal((await docs(local, 'fetch:status-batch')).length, 1, 'the first document held only in-1');

  // Both documents left behind (a crash before the first was deleted): the later one still wins.
  await local.put('fetch:status-batch', '0-old', { at: 1, s: { 'in-2': valid } });
  const again = new StatusMemoStore(local);
  assert.deepEqual(await again.get('in-2'), unknownKey);
  assert.ok(!(await docs(local, 'fetch:status-batch')).includes('0-old'), 'a document whose memos are all superseded is deleted');
  await local.close();
});

test('memos of earlier versions (one document per message) are read and then deleted', async () => {
  const local = new MemoryDocumentStore();
  await local.put('fetch:status', 'in-9', unknownKey);
  const memo = new StatusMemoStore(local);
  assert.deepEqual(await memo.get('in-9'), unknownKey);
  await memo.delete('in-9');
  assert.deepEqual(await docs(local, 'fetch:status'), []);
  await local.close();
});
