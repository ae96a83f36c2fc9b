import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable, Writable } from 'node:stream';
import { serialize, tagged, untagged, untaggedStatus, continuation } from '../../../src/imap/response/responses.js';
import { NIL, atom, list, nstr, num, str, streamed, literal } from '../../../src/imap/response/values.js';
import { ResponseWriter } from '../../../src/imap/response/writer.js';

const text = (r: ReturnType<typeof untagged>, utf8 = false): string =>
  Buffer.concat(serialize(r, { utf8 }).map((p) => (Buffer.isBuffer(p) ? p : Buffer.from('<stream>')))).toString('latin1');

test('strings are quoted with escapes when they can be, literals otherwise', () => {
  assert.equal(text(untagged(str('a "b" \\c'))), '* "a \\"b\\" \\\\c"\r\n');
  assert.equal(text(untagged(str('two\r\nlines'))), '* {10}\r\ntwo\r\nlines\r\n');
  assert.equal(text(untagged(str('x'.repeat(2000)))).slice(0, 10), '* {2000}\r\n');
  // 8-bit text needs a literal unless UTF8=ACCEPT is on.
  assert.equal(text(untagged(str('café'))), '* {5}\r\ncaf\xc3\xa9\r\n');
  assert.equal(text(untagged(str('café')), true), '* "caf\xc3\xa9"\r\n');
  assert.equal(text(untagged(literal('x'))), '* {1}\r\nx\r\n');
  assert.equal(text(untagged(nstr(null), nstr(''), NIL)), '* NIL "" NIL\r\n');
});

test('lists, numbers, response codes and status text', () => {
  assert.equal(text(untagged(num(3), atom('FETCH'), list([atom('FLAGS'), list([atom('\\Seen')]), atom('UID'), num(9)]))), '* 3 FETCH (FLAGS (\\Seen) UID 9)\r\n');
  assert.equal(text(tagged('a1', 'OK', 'done', { name: 'APPENDUID', args: [num(5), num(7)] })), 'a1 OK [APPENDUID 5 7] done\r\n');
  assert.equal(text(untaggedStatus('BYE', 'bye\r\n* injected')), '* BYE bye * injected\r\n');
  assert.equal(text(continuation('Ready')), '+ Ready\r\n');
});

test('the writer streams literal bodies with backpressure, in order with text', async () => {
  const received: Buffer[] = [];
  let writes = 0;
  const out = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, cb) {
      writes++;
      received.push(chunk);
      setImmediate(cb);
    },
  });
  const writer = new ResponseWriter(out);
  const body = Buffer.alloc(100_000, 'a');
  const parts = [body.subarray(0, 40_000), body.subarray(40_000)];
  const p1 = writer.send(untagged(num(1), atom('FETCH'), list([atom('BODY[]'), streamed(body.length, () => Readable.from(parts))])));
  const p2 = writer.send(untagged(num(2), atom('EXISTS')));
  await Promise.all([p1, p2]);
  await new Promise((resolve) => out.end(resolve));
  const all = Buffer.concat(received);
  const head = Buffer.from('* 1 FETCH (BODY[] {100000}\r\n');
  const tail = Buffer.from(')\r\n* 2 EXISTS\r\n');
  assert.equal(all.length, head.length + body.length + tail.length);
  assert.ok(all.subarray(0, head.length).equals(head));
  assert.ok(all.subarray(head.length, head.length + body.length).equals(body));
  assert.equal(all.subarray(head.length + body.length).toString(), tail.toString());
  assert.ok(writes >= 4);
});

test('a literal source shorter than announced closes the connection instead of corrupting the stream', async () => {
  const sink = new PassThrough();
  sink.resume();
  const writer = new ResponseWriter(sink);
  await assert.rejects(writer.send(untagged(streamed(10, () => Readable.from([Buffer.from('short')])))), /shorter/);
  assert.ok(sink.destroyed);
});
