// Crash safety of the fetch loop (issue 7): the loop runs in a child process
// (test/fetch/crash-child.ts) over one account whose local store is reused
// across kills. A batch of 30 incoming documents lands at the provider (in
// this process) every few trials; each trial starts the loop (picking up what
// the last killed one left) and SIGKILLs it at a random moment (while
// starting up, syncing, processing). Every few trials and at the end a clean run drains
// what is left, and every message must be in the INBOX exactly once,
// byte-exact, with no incoming document left here or at the provider.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAccount } from '../../src/daemon/account.js';
import * as openpgp from 'openpgp';
import { startTestProvider, type TestProvider } from '../provider/helpers.js';
import { encryptTo, LOCAL_PASSWORD, LOGIN_COST, TEST_KDF } from './fetch-account.js';
import { mulberry32 as random } from './prng.js';

// The child from the test run's plain-JS build when there is one (scripts/test-cli-build.mjs):
// it starts 20+ times, each start through tsx ~0.5 s of CPU more.
const CHILD = process.env.SEALMAIL_TEST_BUILD
  ? [path.join(process.env.SEALMAIL_TEST_BUILD, 'test/fetch/crash-child.js')]
  : ['--import', 'tsx', fileURLToPath(new URL('../fetch/crash-child.ts', import.meta.url))];
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ADDRESS = 'alice@example.org';
const PASSPHRASE = 'crash test passphrase';

export interface CrashRunOptions {
  /** Number of SIGKILLs in all. */
  trials: number;
  batchSize?: number;
  /** A new batch lands before every this many kills (the later kills find the rest of it, or leftovers). */
  killsPerBatch?: number;
  /** A clean run checks everything after this many kills (and after the last). */
  verifyEvery?: number;
  /** Seeded choices make a failure reproducible (printed on failure). */
  seed?: number;
  log?: (line: string) => void;
}

export interface CrashRunResult {
  trials: number;
  batches: number;
  messages: number;
  /** Kills that landed after the child said it was ready (i.e. while processing). */
  killedWhileProcessing: number;
}

interface Child {
  proc: ChildProcess;
  ready: Promise<boolean>;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** Children still running (killed when a run ends early, so none outlives the test). */
const live = new Set<ChildProcess>();

function startChild(env: Record<string, string>): Child {
  // node directly (not the tsx CLI, which would put a wrapper process between us and the loop).
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, SEALMAIL_LOG_LEVEL: 'warn' };
  // Not a test-runner child: it would report over a protocol nobody reads.
  delete childEnv.NODE_TEST_CONTEXT;
  const proc = spawn(process.execPath, CHILD, {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const ready = new Promise<boolean>((resolve) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  return { proc, ready, exited, stdout: () => out, stderr: () => err };
}

async function incomingAtProvider(couchUrl: string, token: string): Promise<string[]> {
  const q = `startkey=${encodeURIComponent('"incoming-"')}&endkey=${encodeURIComponent('"incoming-\uffff"')}`;
  const res = await fetch(`${couchUrl.replace(/\/$/, '')}/_all_docs?${q}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`_all_docs: ${res.status}`);
  return ((await res.json()) as { rows: Array<{ id: string }> }).rows.map((r) => r.id);
}

export async function runCrashTrials(opts: CrashRunOptions): Promise<CrashRunResult> {
  const batchSize = opts.batchSize ?? 30;
  const verifyEvery = opts.verifyEvery ?? 10;
  const killsPerBatch = opts.killsPerBatch ?? 3;
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = random(seed);
  const log = opts.log ?? (() => undefined);
  log(`crash trials: seed ${seed}`);

  const provider: TestProvider = await startTestProvider();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-crash-'));
  try {
    const config = { address: ADDRESS, providerUrl: provider.httpUrl, localPassword: LOCAL_PASSWORD, alwaysEncrypt: false };
    const setup = await openAccount({ config, dataDir, passphrase: PASSPHRASE, create: 'new', kdf: TEST_KDF, loginCost: LOGIN_COST });
    const publicKey = await setup.keys.exportPublicKey();
    const { couchUrl, token } = setup.session;
    await setup.close();
    const env = { SM_ADDRESS: ADDRESS, SM_PROVIDER_URL: provider.httpUrl, SM_DATA_DIR: dataDir, SM_PASSPHRASE: PASSPHRASE };

    // Carol signs some of the messages; halfway through, Alice learns her key
    // (their status changes from unknown-key to valid while some are half done).
    const carol = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'carol@elsewhere.net' }], format: 'object' });
    const carolFpr = carol.privateKey.getFingerprint().toUpperCase();
    const expected = new Map<string, { messageId: string; signed: boolean }>(); // sha256 of the original → what it is
    const putBatch = async (batch: number): Promise<void> => {
      const docs = [];
      for (let i = 0; i < batchSize; i++) {
        const messageId = `<b${batch}m${i}.${seed}@elsewhere.net>`;
        const signed = i % 5 === 1;
        // Small messages of varied size, CRLF, one of them with bare LFs (kept byte-exact too).
        let body = `Message ${i} of batch ${batch}\r\n${'x'.repeat(Math.floor(rand() * 2000))}\r\n`;
        if (signed) {
          const text = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: body }), signingKeys: carol.privateKey });
          body = text.replace(/\r?\n/g, '\r\n');
        }
        const sep = i === 0 ? '\n' : '\r\n';
        const from = signed ? 'carol@elsewhere.net' : 'bob@elsewhere.net';
        const raw = Buffer.from(`From: ${from}${sep}To: ${ADDRESS}${sep}Subject: batch ${batch} #${i}${sep}Message-ID: ${messageId}${sep}${sep}${body}`);
        expected.set(createHash('sha256').update(raw).digest('hex'), { messageId, signed });
        docs.push({
          _id: `incoming-${batch}-${String(i).padStart(3, '0')}-${seed}`,
          sealmail: 'incoming',
          v: 1,
          receivedAt: new Date(Date.UTC(2026, 0, 1, 0, batch, i)).toISOString(),
          _attachments: { 'message.pgp': { content_type: 'application/pgp-encrypted', data: (await encryptTo(publicKey, raw)).toString('base64') } },
        });
      }
      const put = await fetch(`${couchUrl.replace(/\/$/, '')}/_bulk_docs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ docs }),
      });
      if (put.status !== 201) throw new Error(`_bulk_docs: ${put.status} ${await put.text()}`);
    };
    let trials = 0;
    let batches = 0;
    let killedWhileProcessing = 0;
    // How long a run takes to get ready, learned as we go (kills before "ready" land within it).
    let startupMs = 1500;
    const verify = async (): Promise<void> => {
      const finish = startChild({ ...env, SM_MODE: 'finish' });
      const code = await finish.exited;
      if (code !== 0) throw new Error(`the clean run failed (exit ${code}, seed ${seed}):\n${finish.stderr()}`);
      const report = JSON.parse(finish.stdout().trim().split('\n').pop()!) as { messages: Array<{ status: string; rest: string }>; incoming: number };
      const counts = new Map<string, number>();
      const problems: string[] = [];
      for (const m of report.messages) {
        counts.set(m.rest, (counts.get(m.rest) ?? 0) + 1);
        const what = expected.get(m.rest);
        if (!what) continue;
        const statuses = what.signed
          ? ['unknown-key', `valid; fpr=${carolFpr}`].map((sig) => `X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: ${sig}\r\n`)
          : ['X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: none\r\n'];
        if (!statuses.includes(m.status)) problems.push(`${what.messageId}: status ${JSON.stringify(m.status)}`);
      }
      for (const [h, what] of expected) if (counts.get(h) !== 1) problems.push(`${what.messageId}: ${counts.get(h) ?? 0} copies`);
      for (const h of counts.keys()) if (!expected.has(h)) problems.push(`unexpected message ${h.slice(0, 12)} (not byte-exact, or not ours)`);
      if (report.incoming !== 0) problems.push(`${report.incoming} incoming docs left locally`);
      const remote = await incomingAtProvider(couchUrl, token);
      if (remote.length) problems.push(`${remote.length} incoming docs left at the provider`);
      if (problems.length) throw new Error(`after ${trials} kills (seed ${seed}): ${problems.slice(0, 10).join('; ')}`);
      log(`after ${trials} kills: ${expected.size} messages, each exactly once and byte-exact; no incoming doc left`);
    };

    // Each trial: a fresh loop starts on the same local store (with whatever
    // the killed one left, and a new batch at the provider every few trials)
    // and is killed.
    while (trials < opts.trials) {
      if (trials % killsPerBatch === 0) await putBatch(++batches);
      trials++;
      const learned: Record<string, string> = trials > opts.trials / 2 ? { SM_IMPORT_KEY: carol.publicKey.armor() } : {};
      const child = startChild({ ...env, ...learned, SM_MODE: 'run' });
      const t0 = Date.now();
      let when: string;
      if (rand() < 0.25) {
        // While opening the store, logging in, syncing.
        const delay = Math.floor(rand() * startupMs);
        await Promise.race([new Promise((r) => setTimeout(r, delay)), child.exited]);
        when = `${delay} ms after spawn`;
      } else {
        const ready = await child.ready;
        if (!ready) throw new Error(`the fetch child exited before it was ready:\n${child.stderr()}`);
        startupMs = Math.round(0.7 * startupMs + 0.3 * (Date.now() - t0));
        // Sync brings the batch and the loop works through it within a second or so.
        const delay = Math.floor(rand() * 800);
        await Promise.race([new Promise((r) => setTimeout(r, delay)), child.exited]);
        when = `${delay} ms after ready`;
        killedWhileProcessing++;
      }
      child.proc.kill('SIGKILL');
      const code = await child.exited;
      if (code !== null && code !== 0) throw new Error(`the fetch child failed (exit ${code}) before the kill:\n${child.stderr()}`);
      log(`trial ${trials}: killed ${when}`);
      if (trials % verifyEvery === 0 || trials === opts.trials) await verify();
    }
    return { trials, batches, messages: expected.size, killedWhileProcessing };
  } finally {
    for (const proc of live) proc.kill('SIGKILL');
    await provider.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
