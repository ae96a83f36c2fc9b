// The pull-progress tracker behind `sealmail account login`'s progress bar
// and `sealmail status`, in-process against a real provider (sync gateway
// over TCP): every update it reports is sampled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProvider } from '../../src/provider/index.js';
import { ProviderClient } from '../../src/daemon/provider-client.js';
import { Soledad } from '../../src/soledad/index.js';
import { PullProgressTracker, remainingChanges, trackPulls } from '../../src/daemon/sync-progress.js';

test('pull progress: a restore knows its exact total from the start; a live catch-up learns it from the provider', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sealmail-progress-'));
  const closers: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const provider = await startProvider({ dataDir: join(dir, 'provider'), domains: ['example.org'], scrypt: { N: 1024 } });
  closers.push(() => provider.close());
  const client = new ProviderClient(provider.httpUrl);
  await client.register('alice@example.org', 'login-password-1');
  const session = await client.login('alice@example.org', 'login-password-1');
  const remote = { url: session.couchUrl, headers: { Authorization: `Bearer ${session.token}` } };
  const kdf = { N: 2 ** 10, r: 8, p: 1 };

  const a = await Soledad.create({ dataDir: join(dir, 'a'), passphrase: 'passphrase-1', remote, kdf, liveSync: false });
  closers.push(() => a.close());
  const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ type: 'note', id: `n${from + i}`, content: { i: from + i } }));
  await a.bulkPut(batch(0, 150));
  await a.syncOnce();

  // Restore: the total comes from the provider before anything is pulled, and is exact.
  const restoring: Array<{ active: boolean; pulled: number; total: number | null }> = [];
  const tracker = new PullProgressTracker(remote, (p) => restoring.push(p));
  tracker.begin(await remainingChanges(remote, 0));
  const b = await Soledad.restore({ dataDir: join(dir, 'b'), passphrase: 'passphrase-1', remote, onPull: (c) => tracker.change(c) });
  closers.push(() => b.close());
  tracker.end();
  const total = restoring[0]!.total;
  assert.ok(total !== null && total >= 151, `total known at the start: ${total}`);
  assert.equal(restoring[0]!.pulled, 0);
  assert.deepEqual(restoring.at(-1), { active: false, pulled: total, total, sinceStart: total });
  for (let i = 1; i < restoring.length; i++) {
    assert.ok(restoring[i]!.pulled >= restoring[i - 1]!.pulled, 'monotone');
    assert.ok(restoring[i]!.pulled <= total, 'never beyond the total');
  }
  assert.ok(restoring.length >= 3, `updates per batch (${restoring.length})`);

  // Live: while b is closed, a pushes 500 new documents; reopened, b catches up (5 batches of 100).
  await b.close();
  await a.bulkPut(batch(1000, 500));
  await a.syncOnce();
  const live: Array<{ active: boolean; pulled: number; total: number | null; sinceStart: number }> = [];
  const reopened = await Soledad.open({ dataDir: join(dir, 'b'), passphrase: 'passphrase-1', remote });
  closers.push(() => reopened.close());
  const liveTracker = trackPulls(reopened, remote, (p) => live.push(p));
  const deadline = Date.now() + 60_000;
  while (!(liveTracker.progress.sinceStart >= 500 && !liveTracker.progress.active) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const end = liveTracker.progress;
  t.diagnostic(`live: ${JSON.stringify(end)}; totals seen while active: ${JSON.stringify([...new Set(live.filter((p) => p.active).map((p) => p.total))])}`);
  assert.ok(end.sinceStart >= 500 && !end.active, `caught up: ${JSON.stringify(end)}`);
  assert.equal(end.total, end.pulled);
  const known = live.filter((p) => p.active && p.total !== null && p.total > p.pulled);
  assert.ok(known.length > 0, 'while catching up, the total was ahead of what was pulled (asked from the provider)');
  for (const p of known) assert.ok(Math.abs(p.total! - end.pulled) <= 2, `the asked total ${p.total} matches what the catch-up pulled (${end.pulled})`);
});

test('status text: a catch-up under way, and one finished', async () => {
  const { pullLine } = await import('../../src/cli/info.js');
  assert.equal(pullLine({ active: true, pulled: 120, total: 450, sinceStart: 130 }), 'pulling from the provider: 120 of 450 documents (26%)');
  assert.equal(pullLine({ active: true, pulled: 40, total: null, sinceStart: 40 }), 'pulling from the provider: 40 documents');
  assert.equal(pullLine({ active: false, pulled: 76, total: 76, sinceStart: 80 }), 'pulled: 80 documents since start (76 in the last catch-up)');
  assert.equal(pullLine({ active: false, pulled: 0, total: null, sinceStart: 0 }), 'pulled: 0 documents since start');
});
