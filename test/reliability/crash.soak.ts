// The crash soak (`npm run soak`): >= 100 SIGKILL trials while 200 messages
// arrive and a client flags/moves/expunges; prints lost/duplicated counts.
// SEALMAIL_SOAK_TRIALS / SEALMAIL_SOAK_MESSAGES change the sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupWorld } from './harness.js';
import { KEPT, runCrashTrials } from './crash-trials.js';

const trials = Number(process.env.SEALMAIL_SOAK_TRIALS ?? 100);
const messages = Number(process.env.SEALMAIL_SOAK_MESSAGES ?? 200);

test(`crash soak: ${trials} SIGKILL trials, ${messages} messages`, { skip: !process.env.SEALMAIL_SOAK, timeout: 4 * 3600_000 }, async (t) => {
  const world = await setupWorld([KEPT]);
  t.after(() => world.cleanup());
  const started = Date.now();
  const report = await runCrashTrials(world, { trials, messages, log: (line) => console.log(`${((Date.now() - started) / 1000).toFixed(0)} s  ${line}`) });
  console.log(`crash soak: ${report.trials} trials (${report.killedDuringStartup} killed during start-up), ${report.sent} messages sent`);
  console.log(`  confirmed by the client: ${report.confirmed.flagged} flagged, ${report.confirmed.moved} moved, ${report.confirmed.expunged} expunged`);
  console.log(`  lost ${report.lost.length}, duplicated ${report.duplicated.length}, expunged-but-back ${report.resurrected.length}, not byte-exact ${report.corrupt.length}, moved-but-back ${report.misplaced.length}, flags lost ${report.flagsLost.length}`);
  console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const d of report.details) console.log(`  ${d}`);
  assert.deepEqual(report.lost, [], 'lost');
  assert.deepEqual(report.duplicated, [], 'duplicated');
  assert.deepEqual(report.resurrected, [], 'expunged but back');
  assert.deepEqual(report.corrupt, [], 'not byte-exact');
  assert.deepEqual(report.misplaced, [], 'moved but back in INBOX');
  assert.deepEqual(report.flagsLost, [], 'confirmed \\Flagged lost');
});
