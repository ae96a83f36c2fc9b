// The sending side of bench/provider-mx.ts, in its own process (as the
// internet is): sends the message mix to the MX over `concurrency` SMTP
// connections and reports the wall time until the last 250 (= stored) and
// its own CPU time over that span.
// Not a benchmark itself (no `run` export): bench/run-all.ts imports every
// file, so the sending happens only when this file is the forked main module.
// argv: <mxPort> <count> <concurrency>
import nodemailer from 'nodemailer';
import { message, sizeMix } from './provider-mx-mix.js';
import { isMain } from './result.js';

async function send(port: number, count: number, concurrency: number): Promise<{ seconds: number; cpuSeconds: number }> {
  // Messages are built before the clock starts: generating them is not the MX's work.
  const messages = sizeMix(count).map((size, i) => message(i, size));
  const transports = Array.from({ length: concurrency }, () =>
    nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity }),
  );
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    transports.map(async (t) => {
      for (let i = next++; i < count; i = next++) {
        await t.sendMail({ envelope: { from: `sender${i}@outside.net`, to: ['alice@example.org'] }, raw: messages[i]! });
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const t of transports) t.close();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

if (process.send && isMain(import.meta.url)) {
  const [port, count, concurrency] = process.argv.slice(2).map(Number) as [number, number, number];
  send(port, count, concurrency).then(
    (result) => process.send!(result),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
