// Crash safety of blob garbage collection: a process collecting 30 expunged
// messages' blobs (several chunks each) is SIGKILLed at random moments while
// it deletes. After every kill the live message is still read byte-exact;
// a clean run afterwards leaves no expunged blob, no orphaned chunk document
// and no intent pending (chunks are deleted before the head, so a
// blob cut off halfway is found and finished by the next pass).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { GC_DOC, type GcIntentDoc } from '../../src/mail/store/blob-gc-docs.js';
import { Scratch, TEST_KDF, chunkDocs } from '../soledad/helpers.js';

const CHILD = fileURLToPath(new URL('./blob-gc-crash-child.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DEAD = 30;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const message = (n: number) => Buffer.concat([Buffer.from(`From: a@example.org\r\nSubject: m${n}\r\n\r\n`), Buffer.alloc(450_000, `body ${n}\r\n`)]);

/** Runs the child; kills it once it has deleted `killAfter` blobs (null: lets it finish). */
async function runChild(dir: string, killAfter: number | null, cutAfterChunks = 0): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, SEALMAIL_LOG_LEVEL: 'warn', CUT_AFTER_CHUNKS: String(cutAfterChunks) };
  delete env.NODE_TEST_CONTEXT;
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (killAfter !== null && out.split('del\n').length - 1 >= killAfter) proc.kill('SIGKILL');
  });
  const code = await exited;
  if (killAfter === null && cutAfterChunks === 0) assert.equal(code, 0, `clean run failed: ${err}`);
  return out;
}


async function inspect(dir: string, live: Buffer, dead: Buffer[]): Promise<{ left: number; chunks: number; intents: GcIntentDoc[] }> {
  const sol = await Soledad.open({ dataDir: dir, passphrase: 'pw' });
  try {
    const parts: Buffer[] = [];
    for await (const c of sol.readBlob(sha(live))) parts.push(c as Buffer);
    assert.ok(Buffer.concat(parts).equals(live), 'the live message reads byte-exact');
    let left = 0;
    for (const m of dead) if (await sol.hasBlob(sha(m))) left++;
    const intents: GcIntentDoc[] = [];
    for (const m of dead) {
      const it = await sol.get<GcIntentDoc>(GC_DOC.intent, sha(m));
      if (it) intents.push(it);
    }
    return { left, chunks: await chunkDocs(sol), intents };
  } finally {
    await sol.close();
  }
}

test('blob GC killed at random moments while deleting: the live message stays intact, a clean run leaves no garbage', { timeout: 120_000 }, async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    const live = message(0);
    const dead = Array.from({ length: DEAD }, (_, i) => message(i + 1));
    const sol = await Soledad.create({ dataDir: dir, passphrase: 'pw', kdf: TEST_KDF });
    const mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
    await mail.append('INBOX', live);
    for (const m of dead) await mail.append('Trash', m);
    await mail.expunge('Trash', dead.map((_, i) => i + 1));
    const liveChunks = await chunkDocs(sol);
    await mail.close();
    await sol.close();
    const before = await inspect(dir, live, dead);
    assert.equal(before.left, DEAD);
    assert.equal(before.chunks % (DEAD + 1), 0);
    assert.ok(before.chunks / (DEAD + 1) >= 3, 'several chunk documents per blob');
    assert.equal(liveChunks, before.chunks);

    const perBlob = before.chunks / (DEAD + 1);
    // Killed exactly between a blob's chunks and its head: that blob is left
    // without chunks (nothing refers to it), and the next pass finishes it.
    await runChild(dir, null, 3);
    const cut = await inspect(dir, live, dead);
    assert.equal(cut.left, DEAD - 2, 'two blobs deleted, the third cut off before its head');
    assert.equal(cut.chunks, (cut.left + 1) * perBlob - perBlob, 'the cut blob has lost its chunk documents');
    const partial: number[] = [];
    for (const after of [1, 3, 6]) {
      await runChild(dir, after);
      const now = await inspect(dir, live, dead);
      if (now.left > 0 && now.left < cut.left) partial.push(now.left);
    }
    assert.ok(partial.length > 0, 'kills landed while blobs were being deleted');

    await runChild(dir, null);
    const after = await inspect(dir, live, dead);
    assert.equal(after.left, 0, 'every expunged blob is gone');
    assert.equal(after.chunks, before.chunks / (DEAD + 1), 'only the live message\'s chunk documents are left');
    // (grace 0: an intent settled by an earlier run is removed by the next one)
    assert.ok(after.intents.every((it) => it.state === 'deleted'), 'no intent is left pending');
  } finally {
    await s.cleanup();
  }
});
