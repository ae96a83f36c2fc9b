import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';

test('put/get/delete/query keep copies, not aliases', async () => {
  const s = new MemoryDocumentStore();
  const doc = { a: 1, list: [1, 2] };
  await s.put('t', 'x', doc);
  doc.list.push(3);
  assert.deepEqual(await s.get('t', 'x'), { a: 1, list: [1, 2] });
  await s.bulkPut([{ type: 't', id: 'y', content: { a: 2 } }, { type: 'u', id: 'y', content: { b: 1 } }]);
  const ids = [];
  for await (const d of s.query('t')) ids.push(d.id);
  assert.deepEqual(ids.sort(), ['x', 'y']);
  await s.delete('t', 'x');
  assert.equal(await s.get('t', 'x'), null);
  await s.close();
});

test('changes feed: latest version per doc in seq order, since, live, abort', async () => {
  const s = new MemoryDocumentStore();
  await s.put('t', 'a', 1);
  await s.put('t', 'b', 2);
  await s.put('t', 'a', 3);
  const all = [];
  for await (const c of s.changes()) all.push([c.id, c.content, c.seq]);
  assert.deepEqual(all.map(([id, v]) => [id, v]), [['b', 2], ['a', 3]]);
  const since = String(all[0][2]);
  const after = [];
  for await (const c of s.changes({ since })) after.push(c.id);
  assert.deepEqual(after, ['a']);

  const ac = new AbortController();
  const seen: Array<[string, unknown]> = [];
  const live = (async () => {
    for await (const c of s.changes({ since: 'now', live: true, signal: ac.signal })) {
      seen.push([c.id, c.content]);
      if (seen.length === 2) ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 5));
  await s.put('t', 'c', 4);
  await s.delete('t', 'b');
  await live;
  assert.deepEqual(seen, [['c', 4], ['b', null]]);
  await s.close();
});

test('close ends live feeds', async () => {
  const s = new MemoryDocumentStore();
  const feed = (async () => {
    let n = 0;
    for await (const _ of s.changes({ live: true })) n++;
    return n;
  })();
  await s.put('t', 'a', 1);
  await new Promise((r) => setTimeout(r, 5));
  await s.close();
  assert.equal(await feed, 1);
});

test('blobs: streamed in, ranges out, byte-exact', async () => {
  const s = new MemoryDocumentStore();
  const data = Buffer.alloc(200_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
  async function* src() {
    for (let o = 0; o < data.length; o += 30_000) yield data.subarray(o, o + 30_000);
  }
  assert.deepEqual(await s.putBlob('b1', src()), { size: data.length });
  assert.equal(await s.hasBlob('b1'), true);
  assert.equal(await s.blobSize('b1'), data.length);
  const read = async (start?: number, end?: number) => {
    const parts: Uint8Array[] = [];
    for await (const c of s.readBlob('b1', start, end)) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };
  assert.ok((await read()).equals(data));
  assert.ok((await read(70_000, 140_001)).equals(data.subarray(70_000, 140_001)));
  await s.deleteBlob('b1');
  assert.equal(await s.blobSize('b1'), null);
  await assert.rejects(async () => {
    for await (const _ of s.readBlob('b1')) void _;
  });
  await s.close();
});
