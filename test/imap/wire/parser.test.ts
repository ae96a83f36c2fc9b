import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CommandParser, type ParserEvent, type ParserOptions } from '../../../src/imap/wire/parser.js';

interface Run {
  events: ParserEvent[];
  continuations: number;
  parser: CommandParser;
}

function makeParser(opts: Partial<ParserOptions> = {}): Run {
  const run: Run = { events: [], continuations: 0, parser: null as unknown as CommandParser };
  run.parser = new CommandParser({
    onEvent: (e) => run.events.push(e),
    onContinue: () => run.continuations++,
    pause: () => undefined,
    resume: () => undefined,
    ...opts,
  });
  return run;
}

/** Feed `input` cut at the given offsets. */
function feedSplit(input: Buffer, cuts: number[], opts: Partial<ParserOptions> = {}): Run {
  const run = makeParser(opts);
  let prev = 0;
  for (const cut of [...cuts, input.length]) {
    run.parser.feed(input.subarray(prev, cut));
    prev = cut;
  }
  return run;
}

/** Events without stream objects, for comparison. */
function plain(events: ParserEvent[]): unknown[] {
  return events.map((e) => (e.kind === 'command' ? { ...e, literal: e.literal ? e.literal.size : undefined } : e));
}

const COMMANDS: Array<{ wire: string; expect: unknown }> = [
  { wire: 'a1 NOOP\r\n', expect: { tag: 'a1', name: 'NOOP', args: [] } },
  {
    wire: 'a2 LOGIN "al\\"ice" {5}\r\np w d\r\n',
    expect: {
      tag: 'a2',
      name: 'LOGIN',
      args: [
        { type: 'string', value: Buffer.from('al"ice'), form: 'quoted' },
        { type: 'string', value: Buffer.from('p w d'), form: 'literal' },
      ],
    },
  },
  {
    wire: 'a3 uid fetch 1:*,5 (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.100> BINARY[1.2]) \r\n'.replace(' \r\n', '\r\n'),
    expect: {
      tag: 'a3',
      name: 'UID FETCH',
      args: [
        { type: 'atom', value: '1:*,5' },
        {
          type: 'list',
          items: [
            { type: 'atom', value: 'UID' },
            {
              type: 'atom',
              value: 'BODY.PEEK',
              section: [{ type: 'atom', value: 'HEADER.FIELDS' }, { type: 'list', items: [{ type: 'atom', value: 'From' }, { type: 'atom', value: 'To' }] }],
              partial: { start: 0, length: 100 },
            },
            { type: 'atom', value: 'BINARY', section: [{ type: 'atom', value: '1.2' }] },
          ],
        },
      ],
    },
  },
  {
    wire: 'a4 SEARCH CHARSET UTF-8 OR (FROM {3+}\r\nbob NOT SEEN) BODY ~{2}\r\nhi\r\n',
    expect: {
      tag: 'a4',
      name: 'SEARCH',
      args: [
        { type: 'atom', value: 'CHARSET' },
        { type: 'atom', value: 'UTF-8' },
        { type: 'atom', value: 'OR' },
        {
          type: 'list',
          items: [
            { type: 'atom', value: 'FROM' },
            { type: 'string', value: Buffer.from('bob'), form: 'literal' },
            { type: 'atom', value: 'NOT' },
            { type: 'atom', value: 'SEEN' },
          ],
        },
        { type: 'atom', value: 'BODY' },
        { type: 'string', value: Buffer.from('hi'), form: 'literal8' },
      ],
    },
  },
  {
    wire: 'a5 LIST "" %\r\n',
    expect: { tag: 'a5', name: 'LIST', args: [{ type: 'string', value: Buffer.alloc(0), form: 'quoted' }, { type: 'atom', value: '%' }] },
  },
  { wire: 'a6 FETCH 1 BODY[]\n', expect: { tag: 'a6', name: 'FETCH', args: [{ type: 'atom', value: '1' }, { type: 'atom', value: 'BODY', section: [] }] } },
  { wire: 'a7 STORE 1 +FLAGS (\\Seen $Junk)\r\n', expect: { tag: 'a7', name: 'STORE', args: [{ type: 'atom', value: '1' }, { type: 'atom', value: '+FLAGS' }, { type: 'list', items: [{ type: 'atom', value: '\\Seen' }, { type: 'atom', value: '$Junk' }] }] } },
  { wire: 'a8 CREATE {0}\r\n\r\n', expect: { tag: 'a8', name: 'CREATE', args: [{ type: 'string', value: Buffer.alloc(0), form: 'literal' }] } },
];

test('every command parses the same whatever the chunking (split at every byte boundary, and byte by byte)', () => {
  for (const { wire, expect } of COMMANDS) {
    const input = Buffer.from(wire, 'latin1');
    const whole = feedSplit(input, []);
    assert.deepEqual(plain(whole.events), [{ kind: 'command', command: expect, literal: undefined }], wire);
    const syncLiterals = (wire.match(/\{\d+\}\r?\n/g) ?? []).length;
    assert.equal(whole.continuations, syncLiterals, `continuations for ${wire}`);
    for (let i = 1; i < input.length; i++) {
      const split = feedSplit(input, [i]);
      assert.deepEqual(plain(split.events), plain(whole.events), `${wire} split at ${i}`);
      assert.equal(split.continuations, syncLiterals);
    }
    const bytewise = feedSplit(input, [...input.keys()].slice(1));
    assert.deepEqual(plain(bytewise.events), plain(whole.events), `${wire} byte by byte`);
  }
});

test('pipelined commands all come out, in order', () => {
  const wire = Buffer.from(COMMANDS.map((c) => c.wire).join(''), 'latin1');
  const run = feedSplit(wire, [...wire.keys()].filter((i) => i % 7 === 3));
  assert.deepEqual(
    run.events.map((e) => (e.kind === 'command' ? e.command.tag : e.kind)),
    COMMANDS.map((c) => (c.expect as { tag: string }).tag),
  );
});

const BAD_INPUTS: Array<[string, string, RegExp]> = [
  ['b1 LOGIN "unterminated\r\n', 'b1', /Unterminated quoted/],
  ['b2 LOGIN "bad \\escape" x\r\n', 'b2', /escape/],
  ['b3 FETCH 1 (FLAGS\r\n', 'b3', /Unterminated list/],
  ['b4 FETCH 1 FLAGS)\r\n', 'b4', /\)/],
  ['b5  NOOP\r\n', 'b5', /Missing command/],
  ['b6 NOOP \r\n', 'b6', /space/i],
  ['b7 FETCH 1 BODY[HEADER\r\n', 'b7', /section/i],
  ['b8 FETCH 1 BODY[]<5>\r\n', 'b8', /partial/],
  ['* NOOP\r\n', '*', /tag/],
  ['b9\r\n', 'b9', /space|command/i],
  ['b10 UID\r\n', 'b10', /space|UID/],
];

test('malformed commands give one error event with the tag and a reason, and parsing goes on', () => {
  for (const [wire, tag, reason] of BAD_INPUTS) {
    const input = Buffer.from(wire + 'ok1 NOOP\r\n');
    for (let i = 0; i <= input.length; i++) {
      const run = feedSplit(input, i === 0 ? [] : [i]);
      assert.equal(run.events.length, 2, `${wire} split ${i}: ${JSON.stringify(plain(run.events))}`);
      const [err, next] = run.events;
      assert.equal(err!.kind, 'error', wire);
      if (err!.kind === 'error') {
        assert.equal(err.tag, tag, wire);
        assert.equal(err.error.status, 'BAD');
        assert.match(err.error.text, reason, wire);
      }
      assert.equal(next!.kind === 'command' && next.command.tag, 'ok1');
    }
  }
});

test('line length limit: BAD with LIMIT, the rest of the line is skipped', () => {
  const run = makeParser({ maxLineLength: 100 });
  run.parser.feed(Buffer.from(`t1 LOGIN ${'x'.repeat(500)} y\r\nt2 NOOP\r\n`));
  assert.equal(run.events.length, 2);
  const [e, n] = run.events;
  assert.ok(e!.kind === 'error' && e.tag === 't1' && e.error.code === 'LIMIT');
  assert.ok(n!.kind === 'command' && n.command.tag === 't2');
});

test('a synchronizing literal over the limit is refused without a continuation; a non-synchronizing one is skipped', () => {
  const run = makeParser({ maxInlineLiteral: 10 });
  run.parser.feed(Buffer.from('t1 LOGIN {11}\r\nt2 LOGIN {11+}\r\n01234567890 x\r\nt3 NOOP\r\n'));
  assert.equal(run.continuations, 0);
  assert.deepEqual(
    run.events.map((e) => (e.kind === 'command' ? `cmd ${e.command.tag}` : e.kind === 'error' ? `err ${e.tag} ${e.error.code}` : e.kind)),
    ['err t1 LIMIT', 'err t2 LIMIT', 'cmd t3'],
  );
});

test('the literals of one command together are bounded too', () => {
  const run = makeParser({ maxInlineLiteral: 10, maxCommandLiterals: 25 });
  run.parser.feed(Buffer.from('t1 SEARCH TEXT {10+}\r\n0123456789 TEXT {10+}\r\n0123456789 TEXT {10+}\r\n0123456789\r\nt2 NOOP\r\n'));
  assert.deepEqual(
    run.events.map((e) => (e.kind === 'command' ? `cmd ${e.command.tag}` : e.kind === 'error' ? `err ${e.tag} ${e.error.code}` : e.kind)),
    ['err t1 LIMIT', 'cmd t2'],
  );
  const ok = makeParser({ maxInlineLiteral: 10, maxCommandLiterals: 25 });
  ok.parser.feed(Buffer.from('t1 SEARCH TEXT {10+}\r\n0123456789 TEXT {10+}\r\n0123456789\r\n'));
  assert.equal(ok.events[0]?.kind, 'command');
});

test('APPEND streams its message literal, exact bytes, whatever the chunking', async () => {
  const message = Buffer.from('Subject: hi\r\n\r\nbody with {5}\r\n and "quotes"\r\n');
  const wire = Buffer.concat([
    Buffer.from(`p1 APPEND "Sent Items" (\\Seen) " 5-Mar-2024 10:00:00 +0100" {${message.length}}\r\n`),
    message,
    Buffer.from('\r\np2 NOOP\r\n'),
  ]);
  for (const step of [1, 3, 17, wire.length]) {
    const run = makeParser();
    const cuts = [...wire.keys()].filter((i) => i > 0 && i % step === 0);
    const collected: Buffer[] = [];
    let prev = 0;
    for (const cut of [...cuts, wire.length]) {
      run.parser.feed(wire.subarray(prev, cut));
      prev = cut;
      const first = run.events[0];
      if (first?.kind === 'command' && first.literal) {
        first.literal.accept(); // the handler checked the command: "+" goes out, data flows
        let chunk: Buffer | null;
        while ((chunk = first.literal.read() as Buffer | null)) collected.push(chunk);
      }
    }
    const first = run.events[0]!;
    assert.equal(first.kind, 'command');
    if (first.kind !== 'command') return;
    assert.equal(first.command.name, 'APPEND');
    assert.equal(first.command.args.length, 3);
    assert.equal(first.literal?.size, message.length);
    assert.equal(run.continuations, 1);
    await new Promise((r) => setImmediate(r));
    assert.ok(first.literal!.readableEnded || first.literal!.read() === null);
    assert.deepEqual(Buffer.concat(collected), message, `step ${step}`);
    assert.equal(run.events[1]?.kind === 'command' && run.events[1].command.tag, 'p2');
  }
});

test('a synchronizing APPEND literal waits for accept(); reject() means the client sends nothing', () => {
  const run = makeParser();
  run.parser.feed(Buffer.from('p1 APPEND Missing {5}\r\n'));
  assert.equal(run.continuations, 0, 'no "+" before the handler accepts');
  const first = run.events[0]!;
  assert.ok(first.kind === 'command' && first.literal);
  run.parser.feed(Buffer.from('p2 NOOP\r\n')); // the client gave up on the literal and goes on
  assert.equal(run.events.length, 1, 'nothing parsed while the literal is undecided');
  first.literal.reject();
  assert.ok(first.literal.destroyed);
  assert.equal(run.continuations, 0);
  assert.ok(run.events[1]?.kind === 'command' && run.events[1].command.tag === 'p2');
  first.literal.accept(); // too late: no effect
  assert.equal(run.continuations, 0);
});

test('input piling up while an APPEND literal awaits accept() pauses reading until it is decided', () => {
  let paused = 0;
  let resumed = 0;
  const run = makeParser({ maxLineLength: 100, pause: () => paused++, resume: () => resumed++ });
  run.parser.feed(Buffer.from('p1 APPEND INBOX {5}\r\n'));
  run.parser.feed(Buffer.alloc(150, 'x'));
  assert.equal(paused, 1);
  const first = run.events[0]!;
  assert.ok(first.kind === 'command' && first.literal);
  first.literal.accept();
  assert.equal(resumed, 1);
  assert.equal(run.continuations, 1);
});

test('data after the APPEND message (MULTIAPPEND) fails the message stream', async () => {
  const run = makeParser();
  run.parser.feed(Buffer.from('p1 APPEND INBOX {3+}\r\nabc {3+}\r\nxyz\r\np2 NOOP\r\n'));
  const first = run.events[0]!;
  assert.ok(first.kind === 'command' && first.literal);
  const chunks: Buffer[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of first.literal!) chunks.push(c as Buffer);
    })(),
    /MULTIAPPEND/,
  );
  assert.equal(run.events.at(-1)?.kind === 'command' && (run.events.at(-1) as { command: { tag: string } }).command.tag, 'p2');
});

test('an APPEND message over the limit: NO [TOOBIG] before any continuation', () => {
  const run = makeParser({ maxAppendLiteral: 1000 });
  run.parser.feed(Buffer.from('p1 APPEND INBOX {1001}\r\np2 NOOP\r\n'));
  assert.equal(run.continuations, 0);
  assert.ok(run.events[0]!.kind === 'error' && run.events[0].error.status === 'NO' && run.events[0].error.code === 'TOOBIG');
  assert.ok(run.events[1]!.kind === 'command');
});

test('IDLE holds the input until the session asks for the DONE line, then commands resume', () => {
  const run = makeParser();
  run.parser.feed(Buffer.from('i1 IDLE\r\nDONE\r\ni2 NOOP\r\n'));
  assert.equal(run.events.length, 1);
  run.parser.expectLine();
  assert.deepEqual(run.events[1], { kind: 'line', text: 'DONE' });
  run.parser.release();
  assert.ok(run.events[2]!.kind === 'command' && run.events[2].command.tag === 'i2');
});

test('input arriving while held is bounded: reading pauses, and resumes on release', () => {
  let paused = 0;
  let resumed = 0;
  const run = makeParser({ maxLineLength: 100, pause: () => paused++, resume: () => resumed++ });
  run.parser.feed(Buffer.from('i1 IDLE\r\n'));
  run.parser.feed(Buffer.alloc(60, 'x'));
  assert.equal(paused, 0);
  run.parser.feed(Buffer.alloc(60, 'x'));
  assert.equal(paused, 1);
  run.parser.expectLine();
  assert.equal(resumed, 1);
});

test('STARTTLS: input pipelined after the command is discarded on close()', () => {
  const run = makeParser();
  run.parser.feed(Buffer.from('s1 STARTTLS\r\ns2 LOGIN injected x\r\n'));
  run.parser.close();
  run.parser.release();
  run.parser.feed(Buffer.from('s3 NOOP\r\n'));
  assert.equal(run.events.length, 1);
});

test('random input never throws and only yields well-formed events', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), (chunks) => {
      const run = makeParser({ maxInlineLiteral: 100, maxAppendLiteral: 1000, maxLineLength: 200 });
      for (const c of chunks) run.parser.feed(Buffer.from(c));
      for (const e of run.events) {
        assert.ok(['command', 'error', 'fatal'].includes(e.kind));
        if (e.kind === 'error') assert.ok(e.error.status === 'BAD' || e.error.status === 'NO');
        if (e.kind === 'command') e.literal?.resume();
      }
    }),
    { numRuns: 300 },
  );
});

test('mutated valid commands never throw: each yields a command or an error with a reason', () => {
  const base = COMMANDS.map((c) => c.wire);
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.array(fc.record({ pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), del: fc.boolean() }), { maxLength: 4 }),
      (wire, mutations) => {
        const bytes = [...Buffer.from(wire, 'latin1')];
        for (const m of mutations) {
          const pos = m.pos % bytes.length;
          if (m.del) bytes.splice(pos, 1);
          else bytes[pos] = m.byte;
        }
        const run = makeParser({ maxInlineLiteral: 100, maxLineLength: 500 });
        run.parser.feed(Buffer.from(bytes));
        for (const e of run.events) if (e.kind === 'command') e.literal?.resume();
        for (const e of run.events) assert.ok(e.kind === 'command' || (e.kind === 'error' && /\S/.test(e.error.text)) || e.kind === 'fatal');
      },
    ),
    { numRuns: 500 },
  );
});
