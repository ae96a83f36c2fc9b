// Child of index-memory.test.ts: a store whose mail index follows live gets a
// burst of entry documents (as a sync brings them); prints the process's
// peak RSS once every entry is in the index. Its own process, so the figure
// is this work's and not the test runner's. Usage: index-memory-child.ts DIR COUNT
import fs from 'node:fs';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { applyDaemonHeapPolicy } from '../../src/daemon/heap-policy.js';
import { benchEntries } from '../../bench/mail-index.js';
import { TEST_KDF } from '../soledad/helpers.js';

const [dir, countArg] = process.argv.slice(2);
const count = Number(countArg);
applyDaemonHeapPolicy(); // as the daemon does
const sol = await Soledad.create({ dataDir: dir!, passphrase: 'pw', kdf: TEST_KDF });
const mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
const started = Date.now();
for (let start = 0; start < count; start += 1000) await sol.bulkPut(benchEntries(start, Math.min(count, start + 1000)));
let indexed = 0;
const deadline = Date.now() + 240_000;
while (Date.now() < deadline) {
  indexed = 0;
  for (const m of await mail.listMailboxes()) indexed += (await mail.status(m.name)).messages;
  if (indexed >= count) break;
  await new Promise((r) => setTimeout(r, 100));
}
const seconds = (Date.now() - started) / 1000;
const peakMb = Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
await mail.close();
await sol.close();
process.stdout.write(JSON.stringify({ indexed, peakMb, seconds }) + '\n');
