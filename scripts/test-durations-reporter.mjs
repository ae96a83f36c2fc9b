// A node:test reporter used by scripts/run-tests.mjs next to the usual one:
// it records how long each test file's tests took (the sum of its top-level
// tests) in node_modules/.cache/sealmail/test-durations.json, which the
// runner reads to start the longest files first, and ends the run with the
// slowest files (on stderr, so a TAP stream on stdout stays clean). It
// writes nothing to its own destination.
import { mkdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export const DURATIONS_FILE = join('node_modules', '.cache', 'sealmail', 'test-durations.json');

/** Seconds per test file (paths relative to the repository), from earlier runs; {} if none. */
export function readDurations(root = process.cwd()) {
  try {
    return JSON.parse(readFileSync(join(root, DURATIONS_FILE), 'utf8'));
  } catch {
    return {};
  }
}

// Written synchronously as results come in: the runner's --test-force-exit
// ends the process right after the last event, before an async write would.
export default async function* durationsReporter(source) {
  const root = process.cwd();
  const path = join(root, DURATIONS_FILE);
  const seconds = new Map();
  for await (const event of source) {
    if (event.type === 'test:plan' && event.data.nesting === 0 && seconds.size > 0) {
      // The run's plan comes once every file is done, before its summary lines.
      const slowest = [...seconds].sort((a, b) => b[1] - a[1]).slice(0, 10);
      writeSync(2, `\nslowest test files (seconds in their tests, process start not counted):\n${slowest.map(([f, s]) => `${s.toFixed(1).padStart(7)}  ${f}`).join('\n')}\n`);
    }
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0 || !event.data.file) continue;
    const file = relative(root, event.data.file);
    seconds.set(file, (seconds.get(file) ?? 0) + (event.data.details?.duration_ms ?? 0) / 1000);
    // Files not run this time (a filtered run) keep what was recorded before.
    const all = { ...readDurations(root), [file]: Math.round(seconds.get(file) * 10) / 10 };
    mkdirSync(dirname(path), { recursive: true });
    // Runs going on at the same time each write a file of their own and rename it into place.
    writeFileSync(`${path}.${process.pid}.tmp`, JSON.stringify(all, null, 1) + '\n');
    renameSync(`${path}.${process.pid}.tmp`, path);
  }
}
