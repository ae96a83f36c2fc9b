// Quick crash trials for the test suite (the soak runs many more:
// crash.soak.ts). See crash-trials.ts for what is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupWorld } from './harness.js';
import { KEPT, runCrashTrials } from './crash-trials.js';

test('daemon SIGKILLed at random moments while mail arrives and a client flags/moves/expunges: nothing lost, duplicated, corrupted or resurrected', { timeout: 240_000 }, async (t) => {
  const world = await setupWorld([KEPT]);
  t.after(() => world.cleanup());
  const report = await runCrashTrials(world, { trials: 3, messages: 30, log: (line) => t.diagnostic(line) });
  t.diagnostic(JSON.stringify({ ...report, lost: report.lost.length, duplicated: report.duplicated.length }));
  for (const d of report.details) t.diagnostic(d);
  assert.equal(report.sent, 30);
  assert.deepEqual(report.lost, [], 'lost');
  assert.deepEqual(report.duplicated, [], 'duplicated');
  assert.deepEqual(report.resurrected, [], 'expunged but back');
  assert.deepEqual(report.corrupt, [], 'not byte-exact');
  assert.deepEqual(report.misplaced, [], 'moved but back in INBOX');
  assert.deepEqual(report.flagsLost, [], 'confirmed \\Flagged lost');
});
