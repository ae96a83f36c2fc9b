// A quickstart HOME whose provider runs as its own `sealmail provider start`
// process, so the daemon (`sealmail start`, a real child process) can be
// killed while the provider keeps taking mail, and the provider can be
// stopped while the daemon runs. Plus message generation, an MX sender and
// an IMAP reader that returns every copy of every message, byte for byte.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { CLI_ARGS, cliEnv, startCli, type CliEnv } from '../support/cli.js';
import { connect, type RawImapClient } from '../support/raw-imap.js';
import { saveConfig, type SealmailConfig } from '../../src/daemon/config.js';

const ROOT = join(import.meta.dirname, '..', '..');
export const EXTERNAL_SENDER = 'sender@example.org';

export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A child process with its output kept (bounded) for diagnostics. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  /** Signals the process (if still running) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function launch(env: NodeJS.ProcessEnv, args: string[]): Proc {
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: string): void => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.setEncoding('utf8').on('data', keep);
  child.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Resolves once `text` appears in the process output; rejects if it exits first. */
export async function untilOutput(p: Proc, text: string, timeoutMs = 90_000): Promise<void> {
  let exited = false;
  void p.exited.then(() => (exited = true));
  await waitFor(`"${text}"`, () => {
    if (p.output().includes(text)) return true;
    if (exited) throw new Error(`process exited before "${text}":\n${p.output().slice(-4000)}`);
    return false;
  }, timeoutMs, 50);
}

export interface World extends CliEnv {
  /** The quickstart's accounts: the user's, then the demo account. */
  accounts: Array<{ address: string; localPassword: string }>;
  account: { address: string; localPassword: string };
  providerData: string;
  /** Where the provider's HTTP API really listens (ports.http unless a proxy sits in front). */
  providerHttpPort: number;
  /** The daemon's data directory (XDG_DATA_HOME/sealmail). */
  dataDir: string;
  provider: Proc | null;
  startProvider(): Promise<Proc>;
  /** `sealmail start`, not waited for (see untilOutput(p, DAEMON_READY)). */
  spawnDaemon(): Proc;
  cleanup(): Promise<void>;
}

export const DAEMON_READY = 'Stop with Ctrl-C';
const PROVIDER_READY = 'sealmail provider for';

/**
 * Runs the quickstart once (accounts created at its embedded provider), then
 * turns the embedded provider into a separate process on the same data and ports.
 */
export async function setupWorld(mailboxes: string[] = [], opts: { providerHttpPort?: number } = {}): Promise<World> {
  const base = await cliEnv();
  const { home, env, ports } = base;
  const procs = new Set<Proc>();
  try {
    const first = await startCli(env);
    const configFile = join(home, '.config/sealmail/config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as SealmailConfig;
    const account = config.accounts[0]!;
    if (mailboxes.length > 0) {
      const c = await connect('127.0.0.1', ports.imap);
      await c.login(account.address, account.localPassword);
      for (const m of mailboxes) await c.command(`CREATE "${m}"`);
      await c.close();
    }
    if ((await first.stop()) !== 0) throw new Error(`quickstart daemon did not stop cleanly:\n${first.stderr()}`);
    delete config.embeddedProvider;
    saveConfig(configFile, config);
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const providerData = join(home, '.local/share/sealmail/provider');
  const config = JSON.parse(readFileSync(join(home, '.config/sealmail/config.json'), 'utf8')) as SealmailConfig;
  const accounts = config.accounts.map((a) => ({ address: a.address, localPassword: a.localPassword }));
  const world: World = {
    ...base,
    accounts,
    account: accounts[0]!,
    providerData,
    providerHttpPort: opts.providerHttpPort ?? ports.http,
    dataDir: join(home, '.local/share/sealmail'),
    provider: null,
    async startProvider() {
      const p = launch(env, [
        'provider', 'start', '--domain', 'sealmail.localhost', '--data', providerData,
        '--http-port', String(world.providerHttpPort), '--mx-port', String(ports.mx), '--submission-port', String(ports.submission),
      ]);
      procs.add(p);
      void p.exited.then(() => procs.delete(p));
      await untilOutput(p, PROVIDER_READY);
      world.provider = p;
      return p;
    },
    spawnDaemon() {
      const p = launch(env, ['start']);
      procs.add(p);
      void p.exited.then(() => procs.delete(p));
      return p;
    },
    async cleanup() {
      for (const p of [...procs]) await p.stop('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
  try {
    await world.startProvider();
  } catch (err) {
    await world.cleanup();
    throw err;
  }
  return world;
}

/** A test message with a unique Message-ID; some are large enough to span several blob chunks (32 KiB). */
export function makeMessage(to: string, tag: string, opts: { big?: boolean } = {}): { id: string; raw: Buffer } {
  const id = `${tag}.${randomBytes(6).toString('hex')}@reliability.test`;
  const big = opts.big ?? Math.random() < 0.15;
  const lines = big ? 2500 + Math.floor(Math.random() * 2500) : 5 + Math.floor(Math.random() * 200);
  const body: string[] = [];
  for (let i = 0; i < lines; i++) body.push(randomBytes(57).toString('base64'));
  const raw = [
    `From: Sender <${EXTERNAL_SENDER}>`,
    `To: ${to}`,
    `Subject: reliability ${tag}`,
    `Message-ID: <${id}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...body,
    '',
  ].join('\r\n');
  return { id, raw: Buffer.from(raw, 'latin1') };
}

/**
 * Sends each message to the provider's MX as an outside server would: in
 * order over one connection, or over `connections` at once when the order
 * does not matter (a backlog arrives sooner; the MX encrypts in parallel).
 */
export async function sendToMx(port: number, to: string, messages: Array<{ raw: Buffer }>, gapMs = 0, connections = 1): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: connections, maxMessages: Infinity });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (next < messages.length) {
        const m = messages[next++]!;
        await transport.sendMail({ envelope: { from: EXTERNAL_SENDER, to: [to] }, raw: m.raw });
        if (gapMs) await new Promise((r) => setTimeout(r, Math.random() * gapMs));
      }
    }));
  } finally {
    transport.close();
  }
}

export interface StoredCopy {
  mailbox: string;
  uid: number;
  flags: string[];
  body: Buffer;
}

/** Every message in the given mailboxes, by Message-ID (several entries = duplicates). */
export async function readAll(c: RawImapClient, mailboxes: string[]): Promise<Map<string, StoredCopy[]>> {
  const out = new Map<string, StoredCopy[]>();
  for (const mailbox of mailboxes) {
    const sel = await c.command(`EXAMINE "${mailbox}"`);
    if (!sel.tagged.startsWith('OK')) throw new Error(`EXAMINE ${mailbox}: ${sel.tagged}`);
    const r = await c.command('UID FETCH 1:* (UID FLAGS BODY.PEEK[])');
    if (!r.tagged.startsWith('OK')) throw new Error(`FETCH in ${mailbox}: ${r.tagged}`);
    for (const resp of r.untagged) {
      const text = resp.toString('latin1');
      const lit = /BODY\[\] \{(\d+)\}\r\n/.exec(text);
      if (!lit) continue;
      const start = lit.index + lit[0].length;
      const body = resp.subarray(start, start + Number(lit[1]));
      const uid = Number(/UID (\d+)/.exec(text)?.[1]);
      const flags = (/FLAGS \(([^)]*)\)/.exec(text)?.[1] ?? '').split(' ').filter(Boolean);
      const id = /^Message-ID: <([^>]+)>/im.exec(body.toString('latin1'))?.[1] ?? `(no id, ${mailbox} uid ${uid})`;
      const copies = out.get(id) ?? [];
      copies.push({ mailbox, uid, flags, body });
      out.set(id, copies);
    }
  }
  return out;
}

/**
 * The daemon prepends its status headers (X-Sealmail-*) and the MX its
 * Received field; everything the sender wrote must follow them unchanged.
 */
export function sameMessage(stored: Buffer, sent: Buffer): boolean {
  if (stored.length < sent.length) return false;
  if (!stored.subarray(stored.length - sent.length).equals(sent)) return false;
  const prefix = stored.subarray(0, stored.length - sent.length).toString('latin1');
  return prefix === '' || /^(?:[A-Za-z0-9-]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)+$/.test(prefix);
}

export async function imapLogin(world: World, account = world.account): Promise<RawImapClient> {
  const c = await connect('127.0.0.1', world.ports.imap);
  await c.login(account.address, account.localPassword);
  return c;
}
