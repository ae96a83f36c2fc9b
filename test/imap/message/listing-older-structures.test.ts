// Thunderbird's header listing over a store whose structures were derived
// before they carried the listing lines: the first listing reads each
// message's header once (and caches its lines), later ones read nothing;
// every answer is the header filtered as RFC 3501 6.4.5 says, the same bytes
// as a request for a field outside the kept set goes through the MIME tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../../src/soledad/memory-docstore.js';
import { openMailStore } from '../../../src/mail/store/index.js';
import { defaultAnalyzer } from '../../../src/mail/store/analyzer.js';
import type { Analyzer } from '../../../src/mail/store/content.js';
import { startImapServer } from '../../../src/imap/server.js';
import { filterHeader } from '../../../src/mail/structure/sections.js';
import { RawConnection } from '../harness.js';

/** The analyzer as it was: no listing lines in the structures it derives. */
const olderAnalyzer: Analyzer = {
  ...defaultAnalyzer,
  analyzeMessage: (raw) => ({ ...defaultAnalyzer.analyzeMessage(raw), listing: undefined }),
  analyzeStream: async (src) => ({ ...(await defaultAnalyzer.analyzeStream(src)), listing: undefined }),
};

const FIELDS = 'From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To';
const message = (n: number) =>
  Buffer.from(
    `Received: by relay\r\nFrom: S ${n} <s${n}@example.org>\r\nTo: a@example.org,\r\n  b@example.org\r\nX-Spam: ${n}\r\nSubject: note ${n}\r\nReferences: <a@x>\r\n <b@x>\r\nContent-Type: text/plain\r\n\r\nbody ${n}\r\n`,
  );

/** The literals of a FETCH response's data items, in order. */
function literals(out: string): string[] {
  const found: string[] = [];
  const re = /\{(\d+)\}\r\n/g;
  for (let m = re.exec(out); m; m = re.exec(out)) {
    const start = m.index + m[0].length;
    found.push(out.slice(start, start + Number(m[1])));
    re.lastIndex = start + Number(m[1]);
  }
  return found;
}

test('header listing over structures without listing lines reads each header once and answers exactly', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const store = await openMailStore({ docs, local, analyzer: olderAnalyzer, warmSummaries: false });
  const server = await startImapServer({ authenticate: async () => store, failedLoginDelayMs: 0 });
  try {
    // As a stream (IMAP APPEND): the store cannot keep the lines at store time either.
    for (let n = 1; n <= 5; n++) await store.append('INBOX', (async function* () {
      yield message(n);
    })());
    const c = await RawConnection.open(server.port);
    await c.login();
    await c.command('S', 'SELECT INBOX');
    const listing = `UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (${FIELDS})])`;
    const reads: string[] = [];
    const read = store.read.bind(store);
    store.read = (hash, start, end) => {
      reads.push(hash);
      return read(hash, start, end);
    };
    const first = literals(await c.command('F1', listing));
    assert.equal(reads.length, 5, 'each header read once');
    const again = literals(await c.command('F2', listing));
    assert.equal(reads.length, 5, 'then served from the summary cache');
    assert.deepEqual(again, first);
    const headers = literals(await c.command('H', 'UID FETCH 1:* (BODY.PEEK[HEADER])'));
    const names = FIELDS.toLowerCase().split(' ');
    headers.forEach((h, i) => assert.equal(first[i], filterHeader(Buffer.from(h, 'latin1'), names, false).toString('latin1')));
    assert.match(first[0]!, /^From: S 1 .*\r\nTo: a@example.org,\r\n  b@example.org\r\nSubject: note 1\r\nReferences: <a@x>\r\n <b@x>\r\nContent-Type: text\/plain\r\n\r\n$/);
    // A field outside the kept set goes through the MIME tree and agrees.
    const tree = literals(await c.command('T', 'UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject X-Spam)])'));
    headers.forEach((h, i) => assert.equal(tree[i], filterHeader(Buffer.from(h, 'latin1'), ['subject', 'x-spam'], false).toString('latin1')));
    c.close();
  } finally {
    await server.close();
    await store.close();
    await docs.close();
    await local.close();
  }
});
