import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../src/provider/gateway/policy.js';

const q = (s = '') => new URLSearchParams(s);

test('gateway policy: what replication needs is allowed', () => {
  const allowed: Array<[string, string, string?]> = [
    ['GET', ''],
    ['HEAD', '/'],
    ['GET', '/_changes', 'feed=longpoll&heartbeat=10000&since=0'],
    ['GET', '/_changes', 'feed=continuous'],
    ['POST', '/_changes', 'filter=_doc_ids'],
    ['GET', '/_changes', 'filter=_selector'],
    ['POST', '/_revs_diff'],
    ['POST', '/_bulk_docs'],
    ['POST', '/_bulk_get', 'revs=true&attachments=true'],
    ['POST', '/_all_docs'],
    ['POST', '/_ensure_full_commit'],
    ['GET', '/_local/checkpoint-abc'],
    ['PUT', '/_local/checkpoint-abc'],
    ['GET', '/some-doc'],
    ['PUT', '/some-doc/attachment.bin'],
    ['GET', '/incoming-1234/message.pgp'],
    ['DELETE', '/some-doc', 'rev=1-abc'],
  ];
  for (const [method, path, query] of allowed) assert.deepEqual(decide(method, path, q(query)), { allow: true }, `${method} ${path}?${query ?? ''}`);
});

test('gateway policy: code-running, administrative and path-trick requests are refused', () => {
  const refused: Array<[string, string, string?]> = [
    ['PUT', ''],
    ['DELETE', ''],
    ['POST', '/'],
    ['GET', '/_design/x'],
    ['PUT', '/_design%2Fx'],
    ['GET', '/%5Fdesign/x/_view/v'],
    ['POST', '/_temp_view'],
    ['POST', '/_view_cleanup'],
    ['POST', '/_compact'],
    ['GET', '/_security'],
    ['POST', '/_find'],
    ['GET', '/_changes', 'filter=ddoc/f'],
    ['GET', '/_changes', 'filter=_view&view=d/v'],
    ['GET', '/_changes/extra'],
    ['GET', '/_local/a/b'],
    ['GET', '/../sealmail_accounts/_all_docs'],
    ['GET', '/%2e%2e/other'],
    ['GET', '/doc/./x'],
    ['GET', '//_all_dbs'],
    ['GET', '/doc//att'],
    ['GET', '/%E0%A4%A'],
  ];
  for (const [method, path, query] of refused) assert.equal(decide(method, path, q(query)).allow, false, `${method} ${path}?${query ?? ''}`);
});

test('gateway policy: continuous feeds only when the backend ends them properly', () => {
  assert.equal(decide('GET', '/_changes', q('feed=continuous'), { continuousFeeds: false }).allow, false);
  assert.equal(decide('GET', '/_changes', q('feed=eventsource'), { continuousFeeds: false }).allow, false);
  assert.equal(decide('GET', '/_changes', q('feed=longpoll'), { continuousFeeds: false }).allow, true);
  assert.equal(decide('GET', '/_changes', q('feed=continuous'), { continuousFeeds: true }).allow, true);
});
