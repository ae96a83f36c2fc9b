import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RenderedCache } from '../../../src/imap/message/rendered-cache.js';

const search = { from: '', to: '', cc: '', bcc: '', subject: '', sentDate: null, messageId: null, headerNames: [] };
const imap = (n: number) => ({ imap: { envelope: 'e'.repeat(n), body: 'b', bodystructure: 'caf\xe9' }, search });

test('keeps the byte strings as the bytes they stand for', () => {
  const cache = new RenderedCache();
  const r = cache.put('h', imap(3));
  assert.deepEqual([...r.bodystructure], [0x63, 0x61, 0x66, 0xe9]);
  assert.equal(cache.get('h'), r);
  assert.equal(cache.put('h', imap(9)), r); // content-addressed: the first entry stays
});

test('is bounded in bytes and drops the least recently used entry', () => {
  const cache = new RenderedCache(3 * (1000 + 1 + 4 + 2 + 300));
  cache.put('h1', imap(1000));
  cache.put('h2', imap(1000));
  cache.put('h3', imap(1000));
  assert.ok(cache.get('h1')); // h1 is now the most recent
  cache.put('h4', imap(1000));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('h2'), undefined);
  assert.ok(cache.get('h1') && cache.get('h3') && cache.get('h4'));
});
