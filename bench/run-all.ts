// `npm run bench`: runs every benchmark in bench/ (each file ending in
// runWhenMain), each in a process of its own, prints one table, and
// rewrites BENCHMARKS.md with the machine, the date, each figure, the
// peer's figure from the same run, the ratio and the goal. `--quick` runs
// small sizes; `--only NAME` runs matching files.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './result.js';
import { spawnSync } from 'node:child_process';
import { threadPoolSize } from '../src/daemon/service.js';

// Each benchmark runs the daemon's parts as the systemd unit runs the daemon:
// with its libuv pool size (src/daemon/service.ts), which only the
// environment of the process can set (the pool starts while node loads).
const poolSize = process.env.UV_THREADPOOL_SIZE ?? String(threadPoolSize());

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

interface Section {
  file: string;
  results: BenchResult[];
  error?: string;
  seconds: number;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function row(r: BenchResult): string[] {
  const peer = r.peer ? `${fmt(r.peer.value)} ${r.unit} (${r.peer.name})` : '—';
  const ratio = r.peer && r.peer.value !== 0 ? `${fmt(r.value / r.peer.value)}x` : '—';
  return [r.name, `${fmt(r.value)} ${r.unit}`, peer, ratio, r.goal ?? '—', r.note ?? ''];
}

function table(sections: Section[]): string {
  const lines = ['| benchmark | sealmail | peer (same run) | ratio | goal | note |', '|---|---|---|---|---|---|'];
  for (const s of sections) {
    // One table row: an error's line breaks (a server's CRLF-ended reply) would split it.
    if (s.error) lines.push(`| ${s.file} | failed: ${s.error.replace(/\s+/g, ' ').replace(/\|/g, '/')} | | | | |`);
    for (const r of s.results) lines.push(`| ${row(r).map((c) => c.replace(/\|/g, '/')).join(' | ')} |`);
  }
  return lines.join('\n');
}

// A benchmark is a file that ends in runWhenMain (result.ts); the others are
// its helpers (load drivers, child-process entry points).
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run-all.ts' && (!only || f.includes(only)))
  .filter((f) => readFileSync(join(here, f), 'utf8').includes('runWhenMain(import.meta.url'))
  .sort();
const sections: Section[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'sealmail-bench-results-'));
for (const file of files) {
  const started = Date.now();
  process.stderr.write(`bench: ${file}${quick ? ' (quick)' : ''} ...\n`);
  sections.push({ file, ...runOne(file), seconds: (Date.now() - started) / 1000 });
  process.stderr.write(`bench: ${file} took ${sections.at(-1)!.seconds.toFixed(0)} s\n`);
}
rmSync(scratch, { recursive: true, force: true });

/**
 * One benchmark in a process of its own, as `npx tsx bench/<file>` runs it:
 * no figure pays for the heap, caches, JIT state or background work an
 * earlier benchmark left behind (fetch ingest measured after the 100k-message
 * start-up bench in one process: 0.29x raw, against 0.34–0.44x on its own).
 */
function runOne(file: string): Pick<Section, 'results' | 'error'> {
  const out = join(scratch, `${file}.json`);
  const child = spawnSync(process.execPath, [...process.execArgv, join(here, file), ...(quick ? ['--quick'] : []), '--results-to', out], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: poolSize },
  });
  if (existsSync(out)) {
    const reported = JSON.parse(readFileSync(out, 'utf8')) as { results?: BenchResult[]; error?: string };
    if (reported.results) return { results: reported.results };
    if (reported.error) return { results: [], error: reported.error };
  }
  return { results: [], error: `exited with ${child.signal ?? `code ${child.status}`} without results` };
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
const machine = `${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${platform()} ${release()}, Node ${process.version}, libuv pool ${poolSize} threads (as the systemd unit sets it)`;
const date = new Date().toISOString().slice(0, 10);
const body = table(sections);
console.log(body);
// The measured table lives between two markers in BENCHMARKS.md; the prose
// around it (analysis, before/after of optimisations) is kept.
const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';
if (!only) {
  const generated = [
    BEGIN,
    `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${date}. Machine: ${machine}.`,
    '',
    body,
    '',
    `Run times (${(sections.reduce((t, s) => t + s.seconds, 0) / 60).toFixed(1)} min in all; goal ~15): ${sections.map((s) => `${s.file} ${s.seconds.toFixed(0)} s`).join(', ')}.`,
    END,
  ].join('\n');
  const path = join(here, '..', 'BENCHMARKS.md');
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const md = old.includes(BEGIN) && old.includes(END)
    ? old.slice(0, old.indexOf(BEGIN)) + generated + old.slice(old.indexOf(END) + END.length)
    : ['# Benchmarks', '', 'Every peer figure comes from the same run on the same machine.', '', generated, ''].join('\n');
  writeFileSync(path, md);
  process.stderr.write('bench: BENCHMARKS.md updated\n');
}
