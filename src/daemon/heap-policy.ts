// The daemon's V8 heap policy (issue 4). When garbage collection is cheap
// next to the program's allocation (a heap of tens of MB, as the mail
// index's), V8 lets the old generation grow to about 4x what was live after
// the last full collection before it collects again: building the index of
// 100k messages (57 MB live at the end) took the heap to ~210 MB. The daemon
// keeps one heap for as long as it runs and its memory is the user's, so it
// caps that growth at 2x: on that first build the heap peaked at 151–158
// instead of 199–215 MB, for ~5% more CPU (BENCHMARKS.md "Index memory").
import v8 from 'node:v8';

/** Old-generation growth allowed after a full collection, in percent of what survived it. */
const HEAP_GROWING_PERCENT = 100;

export function applyDaemonHeapPolicy(): void {
  // V8 reads the flag whenever it sets the next heap limit: it takes effect from the next full collection on.
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
