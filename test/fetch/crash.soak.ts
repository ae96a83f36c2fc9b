// Soak variant of test/fetch/crash.test.ts (`npm run soak`): 100 SIGKILLs of
// the fetch loop in its child process, a clean check every 25.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashTrials } from '../support/fetch-crash.js';

test('fetch loop killed with SIGKILL 100 times: every message exactly once and byte-exact', { timeout: 1_800_000 }, async (t) => {
  const seed = process.env.SEALMAIL_CRASH_SEED ? Number(process.env.SEALMAIL_CRASH_SEED) : undefined;
  const result = await runCrashTrials({ trials: 100, verifyEvery: 25, seed, log: (line) => t.diagnostic(line) });
  assert.equal(result.trials, 100);
  assert.equal(result.messages, result.batches * 30);
  assert.ok(result.killedWhileProcessing >= 50, `${result.killedWhileProcessing} kills while processing`);
});
