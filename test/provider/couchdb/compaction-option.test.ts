// `sealmail provider start --compaction EVERY|off`: the real CLI, its embedded
// server's compaction passes seen by their checkpoint file
// (<data>/couch/compaction.json, written by a pass over the databases the
// provider wrote at start).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCompactionSetting } from '../../../src/provider/couchdb/compaction.js';
import { runCli } from '../../support/cli.js';
import { startProviderCli, waitFor } from '../helpers.js';

test('the --compaction setting: off, or a time between passes in s, m or h (1 s to 24 h)', () => {
  assert.equal(parseCompactionSetting('off'), false);
  assert.equal(parseCompactionSetting(' OFF '), false);
  assert.deepEqual(parseCompactionSetting('30s'), { intervalMs: 30_000 });
  assert.deepEqual(parseCompactionSetting('5m'), { intervalMs: 300_000 });
  assert.deepEqual(parseCompactionSetting('2h'), { intervalMs: 7_200_000 });
  for (const bad of ['', 'soon', '5', '1.5h', '-5m', '0s', '25h', '5d']) assert.equal(parseCompactionSetting(bad), null, bad);
});

test('sealmail provider start --compaction: a bad value is refused before anything starts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-compaction-option-'));
  try {
    const r = runCli({ PATH: process.env.PATH, HOME: dir }, ['provider', 'start', '--domain', 'example.org', '--data', path.join(dir, 'p'), '--compaction', '1.5h']);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /--compaction 1\.5h: give off or a time between passes such as 30s, 5m or 2h/);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(fs.existsSync(path.join(dir, 'p')), false, 'no data directory made');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sealmail provider start --compaction 1s passes over the written databases within seconds; --compaction off never does', { timeout: 240_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-compaction-option-'));
  try {
    const often = path.join(dir, 'often');
    const every = await startProviderCli(often, ['--compaction', '1s']);
    const checkpoints = path.join(often, 'couch', 'compaction.json');
    let tookMs: number;
    try {
      assert.ok(await waitFor(() => fs.existsSync(checkpoints), 60_000), `a pass wrote its checkpoints:\n${every.output()}`);
      tookMs = Date.now() - every.readyAt;
      const state = JSON.parse(fs.readFileSync(checkpoints, 'utf8')) as Record<string, unknown>;
      assert.ok(Object.keys(state).some((db) => db.startsWith('sealmail_')), `the provider's own databases were walked: ${Object.keys(state).join(', ')}`);
    } finally {
      await every.stop();
    }

    // Off: no pass, for several times as long as the first pass above took (and never less than 5 s).
    const offDir = path.join(dir, 'off');
    const off = await startProviderCli(offDir, ['--compaction', 'off']);
    try {
      const written = await waitFor(() => fs.existsSync(path.join(offDir, 'couch', 'compaction.json')), Math.max(5000, 3 * tookMs));
      assert.equal(written, false, 'no compaction pass with --compaction off');
      assert.ok(fs.readdirSync(path.join(offDir, 'couch')).some((d) => d.startsWith('sealmail_')), 'the provider wrote its databases');
    } finally {
      await off.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
