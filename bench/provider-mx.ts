// Provider MX throughput: SMTP accept → encrypted incoming document stored
// (the 250 reply is sent only once the document is durable in CouchDB), for
// messages with a realistic size mix (log-normal, median 15 KB, mean ~110 KB).
// Peer: raw openpgp encryption of the same messages in the same process, no
// SMTP and no storage — the floor the MX pipeline is built on.
// Usage: npx tsx bench/provider-mx.ts [--quick]   (1,000 messages; --quick 100)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { printResults, type BenchResult } from './result.js';

const MEDIAN = 15 * 1024;
const MEAN = 110 * 1024;
const CONCURRENCY = 4;

// Inverse standard normal CDF (Acklam's rational approximation), for
// deterministic log-normal quantiles instead of random draws.
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = p < 0.5 ? p : 1 - p;
  let x: number;
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  } else {
    const r = q - 0.5;
    const s = r * r;
    x = ((((((a[0]! * s + a[1]!) * s + a[2]!) * s + a[3]!) * s + a[4]!) * s + a[5]!) * r) / (((((b[0]! * s + b[1]!) * s + b[2]!) * s + b[3]!) * s + b[4]!) * s + 1);
    return p < 0.5 ? x : -x;
  }
  return p < 0.5 ? x : -x;
}

/** n sizes: log-normal quantiles with the given median and mean, in a shuffled order. */
export function sizeMix(n: number): number[] {
  const mu = Math.log(MEDIAN);
  const sigma = Math.sqrt(2 * Math.log(MEAN / MEDIAN));
  const sizes = Array.from({ length: n }, (_, i) => Math.round(Math.exp(mu + sigma * probit((i + 0.5) / n))));
  let seed = 42;
  for (let i = sizes.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

/** A plausible message of about `size` bytes: headers and a base64 body in 76-column lines. */
function message(i: number, size: number): Buffer {
  const head = `From: Sender ${i} <sender${i}@outside.net>\r\nTo: alice@example.org\r\nSubject: benchmark message ${i}\r\nMessage-ID: <${i}.bench@outside.net>\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const bodyLen = Math.max(0, size - head.length);
  const b64 = crypto.randomBytes(Math.ceil((bodyLen * 3) / 4)).toString('base64').slice(0, bodyLen);
  return Buffer.from(head + (b64.match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n');
}

export async function run(opts: { quick: boolean }): Promise<BenchResult[]> {
  process.env.SEALMAIL_LOG_LEVEL ??= 'warn';
  const { startProvider } = await import('../src/provider/index.js');
  const n = opts.quick ? 100 : 1000;
  const sizes = sizeMix(n);
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const sorted = [...sizes].sort((a, b) => a - b);
  const mixNote = `${n} msgs, median ${(sorted[n >> 1]! / 1024).toFixed(0)} KB, mean ${(totalBytes / n / 1024).toFixed(0)} KB, max ${(sorted[n - 1]! / 1048576).toFixed(1)} MB`;

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-bench-'));
  const provider = await startProvider({ dataDir, domains: ['example.org'], scrypt: { N: 1024 } });
  try {
    const password = 'benchmark password';
    const post = (p: string, body: unknown) =>
      fetch(new URL(p, provider.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/api/accounts', { address: 'alice@example.org', password });
    const { token } = (await (await post('/api/sessions', { address: 'alice@example.org', password })).json()) as { token: string };
    const { publicKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'alice@example.org' }], format: 'armored' });
    const put = await fetch(new URL('/keys/alice@example.org', provider.httpUrl), { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body: publicKey });
    if (!put.ok) throw new Error(`key upload failed: ${put.status}`);
    const key = await openpgp.readKey({ armoredKey: publicKey });

    // Peer: raw openpgp encryption of the same messages, one after another.
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const msg = await openpgp.createMessage({ binary: message(i, sizes[i]!) });
      await openpgp.encrypt({ message: msg, encryptionKeys: key, format: 'binary' });
    }
    const rawSeconds = (performance.now() - t0) / 1000;

    // MX: CONCURRENCY SMTP connections, each sending its share in sequence.
    const transports = Array.from({ length: CONCURRENCY }, () =>
      nodemailer.createTransport({ host: '127.0.0.1', port: provider.mxPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity }),
    );
    let next = 0;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 25);
    t0 = performance.now();
    await Promise.all(
      transports.map(async (t) => {
        for (let i = next++; i < n; i = next++) {
          await t.sendMail({ envelope: { from: `sender${i}@outside.net`, to: ['alice@example.org'] }, raw: message(i, sizes[i]!) });
        }
      }),
    );
    const mxSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    for (const t of transports) t.close();

    const info = (await (await fetch(new URL('/' + (await userDb(provider.httpUrl, token)), provider.httpUrl), { headers: { authorization: `Bearer ${token}` } })).json()) as { doc_count: number };
    if (info.doc_count !== n) throw new Error(`expected ${n} incoming documents, found ${info.doc_count}`);

    return [
      {
        name: 'provider MX accept → stored',
        value: n / mxSeconds,
        unit: 'msg/s',
        peer: { name: 'raw openpgp encrypt, same msgs', value: n / rawSeconds },
        goal: '>= 300 msg/s',
        note: `${mixNote}; ${(totalBytes / 1048576 / mxSeconds).toFixed(1)} MB/s; ${CONCURRENCY} SMTP connections; embedded CouchDB`,
      },
      {
        name: 'provider MX peak RSS growth during the run',
        value: (rssPeak - rssBefore) / 1048576,
        unit: 'MB',
        note: `whole process (sender, MX, embedded CouchDB); largest message ${(sorted[n - 1]! / 1048576).toFixed(1)} MB`,
      },
    ];
  } finally {
    await provider.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The user's database name, from the gateway URL a login returns. */
async function userDb(httpUrl: string, _token: string): Promise<string> {
  const res = await fetch(new URL('/api/sessions', httpUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: 'alice@example.org', password: 'benchmark password' }),
  });
  const { couchUrl } = (await res.json()) as { couchUrl: string };
  return new URL(couchUrl).pathname.slice(1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run({ quick: process.argv.includes('--quick') }).then(printResults, (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
