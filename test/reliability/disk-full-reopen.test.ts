// LevelDB makes a failed background write (the memtable flushed to a table
// file on a full disk) a sticky error: every later write fails with it, even
// once there is space again, until the database is reopened. The local
// PouchDBs (src/soledad/pouch.ts openLocal) reopen their LevelDB then and try
// the write again, so a running daemon recovers without a restart. Here, on
// a small tmpfs (needs root; skipped otherwise): fill it past the 4 MiB write
// buffer with incompressible attachments, grow it, and write again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocal } from '../../src/soledad/pouch.js';

const mount = (args: string[]): boolean => spawnSync('mount', args, { stdio: 'ignore' }).status === 0;

function smallDisk(size: string): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-reopen-'));
  if (mount(['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir])) return dir;
  rmSync(dir, { recursive: true, force: true });
  return null;
}

const probe = smallDisk('1m');
if (probe) {
  spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
}

test('a local store whose disk filled up takes writes again once there is space, without a restart; reads and live changes keep working', { skip: probe ? false : 'cannot mount a tmpfs here (needs root)', timeout: 60_000 }, async (t) => {
  const disk = smallDisk('7m')!;
  const dataDir = join(disk, 'store');
  mkdirSync(dataDir);
  const db = openLocal(dataDir, 'main');
  t.after(async () => {
    await db.close().catch(() => undefined);
    spawnSync('umount', [disk]);
    rmSync(disk, { recursive: true, force: true });
  });
  const seen = new Set<string>();
  const feed = db.changes({ since: 'now', live: true });
  feed.on('change', (c) => seen.add(c.id));
  t.after(() => feed.cancel());

  let written = 0;
  let failure: Error | null = null;
  while (!failure && written < 1000) {
    try {
      await db.put({ _id: `doc${written}`, _attachments: { data: { content_type: 'application/octet-stream', data: randomBytes(40_000) } } });
      written++;
    } catch (err) {
      failure = err as Error;
    }
  }
  assert.ok(failure, 'the disk filled up');
  assert.match(failure.message, /No space left on device/);
  t.diagnostic(`full after ${written} documents: ${failure.message.replace(disk, '<disk>')}`);
  await assert.rejects(db.put({ _id: 'while-full' }), /No space left/, 'writes fail while the disk is full');
  assert.equal((await db.get('doc0'))._id, 'doc0', 'reads work while the disk is full');

  assert.ok(mount(['-o', 'remount,size=256m', disk]), 'grow the disk');
  await db.put({ _id: 'after', note: 'space again' });
  assert.equal((await db.get('after') as { note?: string }).note, 'space again');
  const all = await db.allDocs();
  assert.equal(all.rows.length, written + 1, 'everything written before the disk filled up is there, and the new document');
  const deadline = Date.now() + 10_000;
  while (!seen.has('after') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen.has('after'), 'a live changes feed opened before the disk filled up sees the new document');

  // The disk fills again right after that reopen: the store does not reopen
  // again within REOPEN_EVERY_MS, but must once that time has passed (an
  // attempt turned down for it once kept every later one from reopening).
  const used = Number(spawnSync('du', ['-sb', disk], { encoding: 'utf8' }).stdout.split('\t')[0]);
  assert.ok(mount(['-o', `remount,size=${used + 6 * 1024 * 1024}`, disk]), 'shrink the disk to about 6 MiB free: past the write buffer, so a flush to a table file fails (sticky)');
  let again: Error | null = null;
  for (let i = 0; !again && i < 1000; i++) {
    await db.put({ _id: `again${i}`, _attachments: { data: { content_type: 'application/octet-stream', data: randomBytes(40_000) } } }).catch((err: Error) => {
      again = err;
    });
  }
  assert.match(String(again), /No space left/, 'the disk filled up again');
  assert.ok(mount(['-o', 'remount,size=256m', disk]), 'grow the disk again');
  await new Promise((r) => setTimeout(r, 2500));
  await db.put({ _id: 'after-again', note: 'space again' });
  assert.equal((await db.get('after-again') as { note?: string }).note, 'space again', 'writes work again after the second fill');
});
