// Broken mail is stored and served byte-exact; nothing throws out of the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { createMemoryMailStore } from '../support/memory-mailstore.js';

const broken: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['no body, no blank line', Buffer.from('Subject: x')],
  ['bare LF', Buffer.from('From: a@b\nSubject: lf\n\nline1\nline2\n')],
  ['8-bit header bytes', Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\r\n\r\nx\r\n')])],
  [
    'missing closing boundary',
    Buffer.from('Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\npart one\r\n--zz\r\n\r\nunterminated'),
  ],
  ['unknown charset', Buffer.from('Content-Type: text/plain; charset=x-klingon\r\nSubject: =?x-klingon?Q?abc?=\r\n\r\nqapla\r\n')],
  ['absurdly long line', Buffer.concat([Buffer.from('Subject: long\r\n\r\n'), Buffer.alloc(300_000, 'a')])],
  ['NUL bytes', Buffer.from('Subject: nul\r\n\r\n\0\0\0body\r\n')],
  ['group syntax, empty From', Buffer.from('From:\r\nTo: undisclosed-recipients:;\r\n\r\nx\r\n')],
];

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('malformed messages are stored and served byte-exact with a structure', async () => {
  const s = await createMemoryMailStore();
  for (const [name, raw] of broken) {
    const { uid } = await s.append('INBOX', raw);
    const meta = (await s.messages('INBOX')).messages.find((m) => m.uid === uid)!;
    assert.equal(meta.size, raw.length, name);
    assert.ok((await readAll(s.read(meta.hash))).equals(raw), name);
    assert.equal((await s.structure(meta.hash)).size, raw.length, name);
  }
  await s.close();
});

test('an analyzer that throws does not fail the store: flat fallback structure, exact bytes', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const explode = () => {
    throw new Error('analyzer bug');
  };
  const s = await openMailStore({ docs, local, analyzer: { analyzeMessage: explode, analyzeStream: async () => explode() } });
  const raw = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  const big = Buffer.concat([raw, Buffer.alloc(1_200_000, 'b')]);
  async function* chunks() {
    yield big.subarray(0, 700_000);
    yield big.subarray(700_000);
  }
  for (const [src, bytes] of [[raw, raw], [chunks(), big]] as const) {
    const { uid } = await s.append('INBOX', src);
    const meta = (await s.messages('INBOX')).messages.find((m) => m.uid === uid)!;
    const st = await s.structure(meta.hash);
    assert.equal(st.v, 0, 'fallback marks itself for recomputation');
    assert.equal(st.size, bytes.length);
    assert.equal(st.root.bodyEnd, bytes.length);
    assert.ok((await readAll(s.read(meta.hash))).equals(bytes));
  }
  await s.close();
  await docs.close();
  await local.close();
});

test('a structure older than the analyzer (here the fallback) is derived again when read', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const broken = await openMailStore({
    docs,
    local,
    analyzer: {
      analyzeMessage: () => {
        throw new Error('analyzer bug');
      },
      analyzeStream: async () => {
        throw new Error('analyzer bug');
      },
    },
  });
  const raw = Buffer.from('From: Ann <ann@example.org>\r\nSubject: hello\r\nContent-Type: text/plain\r\n\r\nhi\r\n');
  await broken.append('INBOX', raw);
  const hash = (await broken.messages('INBOX')).messages[0].hash;
  assert.equal((await broken.structure(hash)).v, 0);
  await broken.close();
  const fixed = await openMailStore({ docs, local });
  const st = await fixed.structure(hash);
  assert.ok(st.v >= 1);
  assert.equal(st.search.subject, 'hello');
  assert.equal(st.root.headerEnd, raw.indexOf('\r\n\r\n') + 4);
  assert.equal((await docs.get<{ v: number }>('structure', hash))!.v, st.v, 'the upgrade is stored');
  await fixed.close();
  await docs.close();
  await local.close();
});
