// The shape every benchmark returns; bench/run-all.ts turns these into the
// table in BENCHMARKS.md. Also the footer every bench file shares: run on
// its own (`npx tsx bench/x.ts [--quick]`) it prints its table.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** The peer's figure for the same work in the same run (Dovecot, gpg, plain PouchDB, raw openpgp). */
  peer?: { name: string; value: number };
  goal?: string;
  note?: string;
}

/** Prints results as a table when a benchmark file is run on its own. */
export function printResults(results: BenchResult[]): void {
  console.table(
    results.map((r) => ({
      benchmark: r.name,
      sealmail: `${r.value.toFixed(2)} ${r.unit}`,
      peer: r.peer ? `${r.peer.value.toFixed(2)} ${r.unit} (${r.peer.name})` : '',
      goal: r.goal ?? '',
      note: r.note ?? '',
    })),
  );
}

/** Whether `moduleUrl` (a file's import.meta.url) is the script node was started with, not a module imported by another. */
export function isMain(moduleUrl: string): boolean {
  return moduleUrl === pathToFileURL(process.argv[1] ?? '').href;
}

/**
 * When `moduleUrl` is the script node was started with: runs the benchmark
 * (small sizes with --quick) and prints its table, or, with `--results-to
 * FILE` (bench/run-all.ts runs each benchmark in a process of its own),
 * writes the results or the error to FILE as JSON and exits.
 */
export function runWhenMain(moduleUrl: string, run: (opts: { quick: boolean }) => Promise<BenchResult[]>): void {
  if (!isMain(moduleUrl)) return;
  const at = process.argv.indexOf('--results-to');
  const resultsFile = at > 0 ? process.argv[at + 1] : undefined;
  run({ quick: process.argv.includes('--quick') }).then(
    (results) => {
      if (!resultsFile) return printResults(results);
      writeFileSync(resultsFile, JSON.stringify({ results }));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      if (resultsFile) writeFileSync(resultsFile, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
      process.exit(1);
    },
  );
}
