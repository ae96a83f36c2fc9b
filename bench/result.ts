// The shape every benchmark returns; bench/run-all.ts turns these into the
// table in BENCHMARKS.md.
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
