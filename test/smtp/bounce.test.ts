// The bounce's advice fits the cause: a provider without a relay for other
// domains is not a misspelled address (the walkthrough's bounce told the user
// to "Check the address and send it again" for "550 5.7.1 Relaying to other
// domains is not configured", which no address fixes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { buildBounce, OutgoingQueue } from '../../src/smtp/index.js';
import { SINK_TOKEN, SINK_USER, startSink } from './sink.js';

const BOB = 'bob@elsewhere.example';

async function waitFor(cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The human-readable part of a bounce, its lines joined (the advice is wrapped). */
async function notification(raw: Buffer): Promise<string> {
  const parsed = await simpleParser(raw);
  return (parsed.text ?? '').replace(/\s+/g, ' ');
}

function bounce(diagnostic: string, status?: string): Promise<string> {
  return notification(
    buildBounce({ from: SINK_USER, to: BOB, messageId: '<m@example.org>', originalHeaders: 'Subject: hi\r\n', queuedAt: new Date().toISOString(), diagnostic, status }),
  );
}

test('a provider refusing to relay (the embedded provider without a smarthost) bounces with "not possible from this provider", not "check the address"', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  // The embedded provider's exact refusal (src/provider/submission/server.ts).
  sink.rules.set(BOB, { code: 550, text: '5.7.1 Relaying to other domains is not configured' });
  const bounces: Buffer[] = [];
  const queue = new OutgoingQueue({
    store: new MemoryDocumentStore(),
    relay: { host: '127.0.0.1', port: sink.port, user: SINK_USER, token: SINK_TOKEN, timeoutMs: 10_000 },
    deliverBounce: async (raw) => void bounces.push(raw),
  });
  await queue.start();
  t.after(() => queue.stop());
  const item = await queue.enqueue({ from: SINK_USER, to: BOB, messageId: '<relay@example.org>', raw: Buffer.from('Subject: far away\r\n\r\nx\r\n') });
  await waitFor(async () => (await queue.get(item.id))?.state === 'bounced');
  assert.equal(bounces.length, 1);
  assert.match(bounces[0]!.toString(), /^Status: 5\.7\.1$/m);
  const text = await notification(bounces[0]!);
  assert.match(text, /550 5\.7\.1 Relaying to other domains is not configured/, 'the server reply is quoted');
  assert.match(text, /not set up to send mail to other domains/);
  assert.match(text, /ask the provider's administrator/);
  assert.doesNotMatch(text, /check the address/i);
});

test('each kind of failure gets its own advice', async () => {
  const unknown = await bounce('550 5.1.1 <bob@elsewhere.example>: Recipient address rejected: User unknown');
  assert.match(unknown, /Check the address and send it again/);
  // Postfix's unknown user mentions a relay table: still an address problem.
  const postfix = await bounce('550 5.1.1 <bob@elsewhere.example>: Recipient address rejected: User unknown in relay recipient table');
  assert.match(postfix, /Check the address/);
  assert.doesNotMatch(postfix, /other domains/);
  // Relay refusals of other servers: Postfix ("Relay access denied"), and a reply without an enhanced code.
  assert.match(await bounce('554 5.7.1 <bob@elsewhere.example>: Relay access denied'), /not set up to send mail to other domains/);
  assert.match(await bounce('550 Relaying denied'), /not set up to send mail to other domains/);
  const policy = await bounce('550 5.7.1 Message rejected as spam');
  assert.match(policy, /refused the message by its policy/);
  assert.doesNotMatch(policy, /check the address|other domains/i);
  assert.match(await bounce('552 5.2.2 Mailbox full'), /mailbox is full/);
  assert.match(await bounce('552 5.3.4 Message too big'), /too large/);
  const gaveUp = await bounce('4.4.7 gave up after 12 attempts; last error: 451 4.3.0 relay down', '4.4.7');
  assert.match(gaveUp, /stayed temporary .* for too long, so it stopped\. Send it again later\./);
  assert.doesNotMatch(gaveUp, /check the address|other domains/i);
  const other = await bounce('554 5.6.0 Something odd');
  assert.match(other, /refused it permanently; its reply above says why/);
  assert.doesNotMatch(other, /check the address/i);
});

test('the advice is wrapped: no line of the notification is longer than 78 characters besides the quoted reply', () => {
  const raw = buildBounce({ from: SINK_USER, to: BOB, messageId: '<m@example.org>', originalHeaders: 'Subject: hi\r\n', queuedAt: new Date().toISOString(), diagnostic: '554 5.7.1 Relay access denied' });
  const long = raw.toString('latin1').split('\r\n').filter((l) => l.length > 78 && !l.includes('Relay access denied') && !l.startsWith('The message (Message-ID'));
  assert.deepEqual(long, []);
});
