// The load soak (`npm run soak`): 50 concurrent IMAP sessions for 60 s of
// mixed commands while mail arrives through the MX; prints ops/s and protocol
// errors. SEALMAIL_SOAK_SESSIONS / SEALMAIL_SOAK_SECONDS change the sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from './load.js';

const sessions = Number(process.env.SEALMAIL_SOAK_SESSIONS ?? 50);
const seconds = Number(process.env.SEALMAIL_SOAK_SECONDS ?? 60);

test(`load soak: ${sessions} IMAP sessions for ${seconds} s`, { skip: !process.env.SEALMAIL_SOAK, timeout: 30 * 60_000 }, async () => {
  const started = Date.now();
  const report = await runLoad({ sessions, durationMs: seconds * 1000, mxGapMs: 250, seed: Date.now() % 2 ** 31, traceFile: process.env.SEALMAIL_LOAD_TRACE, log: (line) => console.log(`${((Date.now() - started) / 1000).toFixed(0)} s  ${line}`) });
  console.log(`load soak: ${sessions} sessions, ${seconds} s: ${report.commands} commands, ${report.opsPerSecond.toFixed(0)} ops/s`);
  console.log(`  ${report.delivered} messages delivered through the MX, ${report.ledgerSize} of the test's own messages live at the end`);
  console.log(`  by command: ${JSON.stringify(report.byCommand)}`);
  console.log(`  protocol errors ${report.errors.length}, inconsistencies ${report.inconsistencies.length}, daemon error log lines ${report.daemonErrors.length}`);
  for (const e of report.errors.slice(0, 20)) console.log(`  error: ${JSON.stringify(e)}`);
  for (const i of report.inconsistencies.slice(0, 20)) console.log(`  inconsistent: ${i}`);
  for (const l of report.daemonErrors.slice(0, 10)) console.log(`  daemon: ${l}`);
  assert.equal(report.errors.length, 0, 'protocol errors');
  assert.equal(report.inconsistencies.length, 0, 'inconsistencies');
});
