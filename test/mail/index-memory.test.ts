// Memory of live indexing (issue 4): a burst of 20k entry documents written
// into a store whose index follows live stays bounded. Before the change
// hub read in pages at its readers' pace, PouchDB's live feed held the
// metadata of the whole burst and the readers' queues grew with it: this
// peaked at 322–353 MB (tsx included); now 230–246 MB. The bound is generous
// (machine load moves GC timing), in a child process of its own (Linux:
// VmHWM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Scratch } from '../soledad/helpers.js';

const CHILD = fileURLToPath(new URL('./index-memory-child.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const COUNT = 20_000;
const BOUND_MB = 300;

test(`live indexing of a ${COUNT}-entry burst peaks under ${BOUND_MB} MB`, { timeout: 300_000, skip: !fs.existsSync('/proc/self/status') && 'needs /proc' }, async () => {
  const s = new Scratch();
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, SEALMAIL_LOG_LEVEL: 'warn' };
    delete env.NODE_TEST_CONTEXT;
    const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, s.dir(), String(COUNT)], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    assert.equal(code, 0, `child failed: ${err}`);
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { indexed: number; peakMb: number; seconds: number };
    assert.equal(report.indexed, COUNT, 'every entry reached the index');
    assert.ok(report.peakMb < BOUND_MB, `peak RSS ${report.peakMb.toFixed(0)} MB (bound ${BOUND_MB} MB), indexed in ${report.seconds.toFixed(1)} s`);
  } finally {
    await s.cleanup();
  }
});
