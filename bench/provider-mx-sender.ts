// The sending side of bench/provider-mx.ts, in its own process (as the
// internet is): sends the message mix to the MX over CONCURRENCY SMTP
// connections and reports the wall time until the last 250 (= stored).
// argv: <mxPort> <count> <concurrency>
import nodemailer from 'nodemailer';
import { message, sizeMix } from './provider-mx-mix.js';

const [port, count, concurrency] = process.argv.slice(2).map(Number) as [number, number, number];
const sizes = sizeMix(count);
// Messages are built before the clock starts: generating them is not the MX's work.
const messages = sizes.map((size, i) => message(i, size));
const transports = Array.from({ length: concurrency }, () =>
  nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity }),
);
let next = 0;
const t0 = performance.now();
await Promise.all(
  transports.map(async (t) => {
    for (let i = next++; i < count; i = next++) {
      await t.sendMail({ envelope: { from: `sender${i}@outside.net`, to: ['alice@example.org'] }, raw: messages[i]! });
    }
  }),
);
const seconds = (performance.now() - t0) / 1000;
for (const t of transports) t.close();
process.send!({ seconds });
