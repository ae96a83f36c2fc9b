// Crash safety of the fetch loop (issue 7): SIGKILL at random moments while
// it processes batches of incoming documents; nothing lost, nothing twice,
// every message byte-exact (driver: test/support/fetch-crash.ts).
// SEALMAIL_SOAK=1 runs 100 trials instead of 20; SEALMAIL_CRASH_SEED replays a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashTrials } from '../support/fetch-crash.js';

const trials = process.env.SEALMAIL_SOAK ? 100 : 20;

test(`fetch loop killed with SIGKILL ${trials} times: every message exactly once and byte-exact`, { timeout: trials * 15_000 }, async (t) => {
  const seed = process.env.SEALMAIL_CRASH_SEED ? Number(process.env.SEALMAIL_CRASH_SEED) : undefined;
  const result = await runCrashTrials({ trials, seed, log: (line) => t.diagnostic(line) });
  assert.equal(result.trials, trials);
  assert.equal(result.messages, result.batches * 30);
  // Most kills must land while messages are being processed, not only at startup.
  assert.ok(result.killedWhileProcessing >= trials / 2, `${result.killedWhileProcessing} kills while processing`);
});
