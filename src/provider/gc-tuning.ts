// Garbage-collector setting for a process that runs the provider on its own
// (`sealmail provider start`; bench/provider-mx.ts, whose process stands for
// it). Not applied to a provider embedded in the daemon.
//
// The MX turns every message into several short-lived ArrayBuffers
// (plaintext, openpgp's intermediate copies, the ciphertext, the copy
// LevelDB gets): megabytes per second over a JS heap of ~20 MB. V8 11.3
// (Node 20) sizes the old generation's limit from the live JS heap times a
// growing factor derived from how much the program promotes — little here,
// so the factor falls towards its minimum (1.1) — yet it counts the net
// growth of ArrayBuffer memory since the last full GC against that limit.
// Dead buffers are only reclaimed at the next young-generation GC, which the
// buffers themselves trigger at 32 MB; with the small limit the slack runs
// out first, and the process falls into back-to-back full mark-compacts
// (measured: 40–65 per 1,000 deliveries, ~1.5–2 ms CPU per message on the
// GC threads) where it otherwise does one. Newer V8 accounts external memory
// separately (external_memory_accounted_in_global_limit); here a fixed
// growing factor of 3 (V8's own dynamic factor ranges 1.1–4) leaves room
// for the buffers. V8 reads this flag at every full GC, so setting it at
// start-up is enough.
import v8 from 'node:v8';

const FLAG = '--heap-growing-percent';
/** Factor 1 + 200/100 = 3. 100 (factor 2) still left 23 full GCs per 1,000 deliveries. */
const PERCENT = 200;

/** Applies the setting to this process; returns a function that restores V8's default. */
export function tuneGcForMessageBuffers(): () => void {
  v8.setFlagsFromString(`${FLAG}=${PERCENT}`);
  return () => v8.setFlagsFromString(`${FLAG}=0`);
}
