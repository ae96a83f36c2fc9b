// The child process of big-submission.test.ts: the gateway, the queue (a
// real Soledad local store) and alice's keymanager, alone in a process so its
// memory is theirs. RECIPIENT_KEYS: a JSON file of armored public keys. Prints one JSON line when ready ({port, alicePublic,
// baselineRss}); on the stdin line "report" it waits for the queue to empty
// and prints the baseline and peak RSS and live memory, then exits.
import fs from 'node:fs';
import readline from 'node:readline';
import { TempSoledads } from '../keymanager/temp-soledad.js';
import { KeyManager } from '../../src/keymanager/index.js';
import { OutgoingQueue, startSmtpGateway } from '../../src/smtp/index.js';

const ALICE = process.env.ALICE!;
const stores = new TempSoledads();
const alice = new KeyManager({ store: await stores.create(), address: ALICE, wkd: false });
await alice.ensureOwnKey();
for (const armored of JSON.parse(fs.readFileSync(process.env.RECIPIENT_KEYS!, 'utf8')) as string[]) await alice.importKeys(armored);
const queue = new OutgoingQueue({
  store: (await stores.create()).local,
  relay: { host: '127.0.0.1', port: Number(process.env.SINK_PORT), user: ALICE, token: process.env.SINK_TOKEN! },
  deliverBounce: async () => {
    throw new Error('no bounce expected');
  },
  backoff: { initialMs: 200 },
});
await queue.start();
const gateway = await startSmtpGateway({ port: 0, queue, accounts: [{ address: ALICE, password: 'pw', keymanager: alice, alwaysEncrypt: false }] });

// Warm up (keys parsed, code loaded), then settle: the baseline is what an idle, warmed-up gateway holds.
const warm = await alice.lookup(process.env.WARM_RCPT!);
if (warm.found) await alice.encrypt(Buffer.from('Subject: warm\r\n\r\nwarm\r\n'), [warm.key.armored]);
await alice.sign(Buffer.from('Subject: warm\r\n\r\nwarm\r\n'));
global.gc?.();
await new Promise((r) => setTimeout(r, 200));
global.gc?.();
const baselineRss = process.memoryUsage().rss;
let peakRss = baselineRss;
// RSS includes the store's native memory (LevelDB caches and buffers, which grow with what is written,
// whoever writes it) and garbage not yet collected. What the message path itself holds is the live JS
// heap plus Buffers right after a full GC: sampled every 500 ms.
const live = (): number => {
  global.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const baselineLive = live();
let peakLive = baselineLive;
const rssSampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 25);
const liveSampler = setInterval(() => (peakLive = Math.max(peakLive, live())), 500);
console.log(JSON.stringify({ port: gateway.port, alicePublic: await alice.exportPublicKey(), baselineRss }));

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line.trim() !== 'report') continue;
  await queue.idle();
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  peakLive = Math.max(peakLive, live());
  clearInterval(rssSampler);
  clearInterval(liveSampler);
  console.log(JSON.stringify({ baselineRss, peakRss, baselineLive, peakLive }));
  await gateway.close();
  await queue.stop();
  await stores.closeAll();
  process.exit(0);
}
