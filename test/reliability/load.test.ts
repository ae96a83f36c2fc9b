// Quick load run for the test suite (the soak runs it for 60 s:
// load.soak.ts). See load.ts for what is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLoad } from './load.js';

test('50 concurrent IMAP sessions of mixed commands while mail arrives: no protocol error, every view consistent with the store', { timeout: 180_000 }, async (t) => {
  const report = await runLoad({ sessions: 50, durationMs: 8_000, mxGapMs: 300, seed: Number(process.env.SEALMAIL_LOAD_SEED ?? 20261127), traceFile: process.env.SEALMAIL_LOAD_TRACE, log: (line) => t.diagnostic(line) });
  t.diagnostic(`${report.commands} commands, ${report.opsPerSecond.toFixed(0)}/s; ${report.delivered} delivered through the MX; ${report.ledgerSize} of the test's own messages live at the end`);
  t.diagnostic(JSON.stringify(report.byCommand));
  for (const l of report.daemonErrors.slice(0, 10)) t.diagnostic(`daemon: ${l}`);
  assert.deepEqual(report.errors.slice(0, 20), [], `${report.errors.length} protocol errors`);
  assert.deepEqual(report.inconsistencies.slice(0, 20), [], `${report.inconsistencies.length} inconsistencies`);
  assert.ok(report.commands > 200, 'the sessions got work done');
  assert.ok(report.delivered > 5, 'mail arrived during the run');
});
