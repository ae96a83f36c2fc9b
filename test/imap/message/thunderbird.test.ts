// A Thunderbird-like session from python3 imaplib: login, LIST, SELECT
// (CONDSTORE), header FETCH, BODY.PEEK, STORE \Seen, COPY to Trash, EXPUNGE,
// IDLE with mail arriving from another connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSWORD, USER, startHarness } from '../harness.js';
import { MIXED, PLAIN } from './messages.js';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'thunderbird-session.py');

function runPython(port: number): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    execFile('python3', [script], { env: { ...process.env, IMAP_PORT: String(port), IMAP_USER: USER, IMAP_PASS: PASSWORD }, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test('python imaplib drives a Thunderbird-like session', async () => {
  const h = await startHarness();
  try {
    await h.store.append('INBOX', PLAIN);
    await h.store.append('INBOX', MIXED, { flags: ['\\Seen'] });
    const r = await runPython(h.server.port);
    assert.equal(r.login, 'OK');
    for (const cap of ['CONDSTORE', 'UIDPLUS', 'MOVE', 'IDLE']) assert.ok(r.caps.includes(cap), cap);
    assert.ok(r.list.some((l: string) => l.endsWith('"Trash"') || l.endsWith(' Trash')), r.list.join('|'));
    assert.equal(r.select, 'OK');
    assert.equal(r.exists, 2);
    assert.equal(r.highestmodseq, true);
    assert.equal(r.flags[0], '1 (UID 1 FLAGS ())');
    assert.match(r.flags[1], /UID 2 FLAGS \(\\Seen\)/);
    assert.equal(r.headers.length, 2);
    assert.match(r.headers[0].meta, /UID 1 RFC822.SIZE \d+ FLAGS \(\) BODY\[HEADER.FIELDS \(FROM TO CC BCC SUBJECT DATE MESSAGE-ID PRIORITY X-PRIORITY REFERENCES NEWSGROUPS IN-REPLY-TO CONTENT-TYPE REPLY-TO\)\] \{\d+\}/);
    assert.equal(
      r.headers[0].header,
      'From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Lunch on Friday\r\nDate: Fri, 05 Jan 2024 10:00:00 +0000\r\nMessage-ID: <lunch@example.org>\r\nX-Priority: 3\r\n\r\n',
    );
    assert.match(r.headers[1].header, /^From: Bob <bob@example.net>\r\nTo: .*\r\nCc: .*\r\nSubject: .*\r\nDate: .*\r\nContent-Type: multipart\/mixed; boundary="XYZ"\r\n\r\n$/);
    assert.equal(r.body_len, PLAIN.length);
    assert.equal(r.body_size_item, PLAIN.length);
    assert.equal(r.seen_after_peek, false);
    assert.match(r.store[0], /^1 \(UID 1 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/);
    assert.equal(r.copy, 'OK');
    assert.match(r.copyuid[0], /^\d+ 1 \d+$/);
    assert.deepEqual(r.expunge, ['1']);
    assert.equal(r.unseen, '');
    assert.match(r.idle_cont, /^\+/);
    assert.equal(r.idle_push, '* 2 EXISTS');
    assert.match(r.idle_done, / OK/);
    assert.deepEqual(r.trash, ['Subject: Lunch on Friday\r\n\r\n']);
    assert.equal(r.logout, 'BYE');
  } finally {
    await h.close();
  }
});
