// The real daemon (`sealmail start`, quickstart, child process) as a local
// attacker or a laptop thief would meet it: every listening socket is on
// loopback, the control socket and every file and directory it creates are
// private to the user (0600 / 0700), and a debug-level log of a whole journey
// (send, receive, a wrong password, a key export) holds no passphrase,
// password, provider login secret, private key or message content; no file
// under the data dir (provider and local stores) holds the message in the clear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, lstatSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { cliEnv, runCli, startCli } from '../support/cli.js';
import { providerPassword } from '../../src/daemon/credentials.js';

const SUBJECT_MARKER = 'subj-8d1c5a0e77';
const BODY_MARKER = 'body-4be2f9c1a6';

/** Listening TCP sockets of a process, from /proc: "address:port" strings. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed meanwhile
    }
  }
  const out: string[] = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A = LISTEN
      const [hex, port] = f[1]!.split(':') as [string, string];
      out.push(`${decodeAddress(hex, v6)}:${parseInt(port, 16)}`);
    }
  }
  return out;
}

/** /proc/net/tcp addresses are little-endian 32-bit words. */
function decodeAddress(hex: string, v6: boolean): string {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  if (!v6) return words[0]!.match(/../g)!.map((b) => parseInt(b, 16)).join('.');
  const all = words.join('');
  if (/^0{20}ffff/.test(all)) return '::ffff:' + all.slice(24).match(/../g)!.map((b) => parseInt(b, 16)).join('.');
  return all.match(/.{4}/g)!.join(':');
}

function* walk(dir: string): Generator<{ path: string; dir: boolean; mode: number; socket: boolean }> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    yield { path: p, dir: st.isDirectory(), mode: st.mode & 0o777, socket: st.isSocket() };
    if (st.isDirectory()) yield* walk(p);
  }
}

test('daemon defaults: loopback only, private files, and a debug log of a journey that leaks no secret', { timeout: 300_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  env.SEALMAIL_LOG_LEVEL = 'debug';
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const daemon = await startCli(env);
  const configDir = join(home, '.config/sealmail');
  const dataDir = join(home, '.local/share/sealmail');
  let stopped = false;
  try {
    const config = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { accounts: Array<{ address: string; localPassword: string; passphraseFile: string }> };
    const [alice, demo] = config.accounts as [(typeof config.accounts)[0], (typeof config.accounts)[0]];

    // 1. Every listening socket of the daemon process is on loopback.
    const sockets = listeningSockets(daemon.child.pid!);
    t.diagnostic(`listening: ${sockets.join(' ')}`);
    assert.ok(sockets.length >= 5, `IMAP, SMTP and the embedded provider's HTTP, MX, submission: ${sockets.join(' ')}`);
    for (const s of sockets) assert.match(s, /^(127\.\d+\.\d+\.\d+|0000:0000:0000:0000:0000:0000:0000:0001|::ffff:127\.\d+\.\d+\.\d+):\d+$/, `${s} is not loopback`);
    for (const port of [ports.imap, ports.smtp]) assert.ok(sockets.some((s) => s.endsWith(`:${port}`)), `port ${port} listening`);

    // 2. The journey: a wrong password, a marked message alice -> demo, read over IMAP, a key export.
    const wrongPassword = 'wrong-pw-5e0c71b2';
    const bad = new ImapFlow({ host: '127.0.0.1', port: ports.imap, secure: false, doSTARTTLS: false, auth: { user: alice.address, pass: wrongPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
    bad.on('error', () => undefined);
    await assert.rejects(bad.connect());
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, secure: false, ignoreTLS: true, auth: { user: alice.address, pass: alice.localPassword } });
    await transport.sendMail({ from: alice.address, to: demo.address, subject: `Hello ${SUBJECT_MARKER}`, text: `The body says ${BODY_MARKER}.\n` });
    transport.close();
    const reader = new ImapFlow({ host: '127.0.0.1', port: ports.imap, secure: false, doSTARTTLS: false, auth: { user: demo.address, pass: demo.localPassword }, logger: false } as ConstructorParameters<typeof ImapFlow>[0]);
    reader.on('error', () => undefined);
    await reader.connect();
    let body = '';
    for (let i = 0; i < 120 && !body.includes(BODY_MARKER); i++) {
      const lock = await reader.getMailboxLock('INBOX');
      try {
        for await (const m of reader.fetch('1:*', { source: true })) if (m.source?.includes(BODY_MARKER)) body = m.source.toString();
      } finally {
        lock.release();
      }
      if (!body) await new Promise((r) => setTimeout(r, 500));
    }
    await reader.logout();
    assert.ok(body.includes(SUBJECT_MARKER), 'the marked message arrived, decrypted');
    assert.match(body, /X-Sealmail-Encryption: decrypted/);
    const exported = runCli(env, ['keys', 'export', '--secret', '--account', alice.address]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stdout, /BEGIN PGP PRIVATE KEY BLOCK/);

    // 3. Private files: dirs 0700, files and the control socket 0600 (checked while running: the socket exists).
    const loose: string[] = [];
    let checked = 0;
    for (const root of [configDir, dataDir]) {
      for (const e of walk(root)) {
        checked++;
        if (e.dir ? e.mode !== 0o700 : (e.mode & 0o077) !== 0) loose.push(`${e.path.slice(home.length)} ${e.mode.toString(8)}`);
      }
    }
    assert.ok(walk(dataDir).next() && readdirSync(dataDir).includes('control.sock'), 'the control socket exists while the daemon runs');
    t.diagnostic(`${checked} paths checked under the config and data dirs`);
    assert.deepEqual(loose, [], 'group/world-accessible paths');

    assert.equal(await daemon.stop(), 0);
    stopped = true;

    // Neither the provider's files nor the local encrypted stores hold the message's markers in the clear.
    for (const e of [...walk(dataDir)].filter((x) => !x.dir && !x.socket)) {
      const bytes = readFileSync(e.path);
      for (const marker of [SUBJECT_MARKER, BODY_MARKER]) assert.ok(!bytes.includes(marker), `${marker} in ${e.path.slice(home.length)}`);
    }

    // 4. The log, at debug level, of all of that.
    const log = daemon.stderr() + daemon.stdout().replace(/Password:.*\n/g, '');
    const lines = log.split('\n').length;
    assert.ok(lines > 50 && /"level":20/.test(log), `a debug-level log was captured (${lines} lines)`);
    const privateKeyLines = exported.stdout.split('\n').filter((l) => /^[A-Za-z0-9+/]{60,}$/.test(l));
    const secrets: Array<[string, string]> = [
      ['wrong password', wrongPassword],
      ['subject', SUBJECT_MARKER],
      ['body', BODY_MARKER],
      ['Authorization header', 'Bearer '],
      ...privateKeyLines.slice(0, 5).map((l, i): [string, string] => [`private key line ${i}`, l]),
    ];
    for (const a of [alice, demo]) {
      const passphrase = readFileSync(a.passphraseFile, 'utf8').trim();
      secrets.push([`${a.address} passphrase`, passphrase], [`${a.address} local password`, a.localPassword]);
      secrets.push([`${a.address} provider login secret`, await providerPassword(a.address, passphrase)]);
    }
    const found = secrets.filter(([, s]) => log.includes(s)).map(([what]) => what);
    t.diagnostic(`${lines} log lines checked for ${secrets.length} secrets`);
    assert.deepEqual(found, [], 'secrets in the log');
    // The daemon's own stdout shows the local password once, on purpose (the settings to paste into the mail client).
    assert.ok(daemon.stdout().includes(alice.localPassword));
  } finally {
    if (!stopped) await daemon.stop();
  }
});
