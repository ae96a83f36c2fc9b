// Runs the real `sealmail` CLI as a child process in a private HOME, the way
// a user would, and python3's imaplib as the mail client.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * How a test starts `sealmail`: the plain-JS build of src/ that
 * scripts/run-tests.mjs made for this run (SEALMAIL_TEST_CLI; about half the
 * start-up CPU), else the sources through tsx (a test file run on its own).
 */
export const CLI_ARGS: readonly string[] = process.env.SEALMAIL_TEST_CLI ? [process.env.SEALMAIL_TEST_CLI] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];

export interface CliEnv {
  home: string;
  env: NodeJS.ProcessEnv;
  ports: { imap: number; smtp: number; http: number; mx: number; submission: number };
}

export async function cliEnv(): Promise<CliEnv> {
  const home = mkdtempSync(join(tmpdir(), 'sealmail-cli-'));
  const [imap, smtp, http, mx, submission] = await freePorts(5);
  const ports = { imap: imap!, smtp: smtp!, http: http!, mx: mx!, submission: submission! };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    SEALMAIL_USER: 'alice',
    SEALMAIL_LOG_FORMAT: 'json',
    SEALMAIL_IMAP_PORT: String(ports.imap),
    SEALMAIL_SMTP_PORT: String(ports.smtp),
    SEALMAIL_PROVIDER_HTTP_PORT: String(ports.http),
    SEALMAIL_PROVIDER_MX_PORT: String(ports.mx),
    SEALMAIL_PROVIDER_SUBMISSION_PORT: String(ports.submission),
  };
  return { home, env, ports };
}

/** `sealmail ARGS` to completion. */
export function runCli(env: NodeJS.ProcessEnv, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI_ARGS, ...args], { env, encoding: 'utf8', input, cwd: ROOT, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `sealmail ARGS` to completion without blocking this process (which may run the provider the CLI talks to). */
export function runCliAsync(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI_ARGS, ...args], { env, cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * `sealmail ARGS` with a pseudo-terminal (util-linux `script`), as a user in
 * a terminal runs it; null when `script` is not installed. Output is stdout
 * and stderr together, with terminal control sequences.
 */
export function runCliInTerminal(env: NodeJS.ProcessEnv, args: string[]): { status: number | null; output: string } | null {
  if (spawnSync('which', ['script']).status !== 0) return null;
  const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, ...CLI_ARGS, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { env, encoding: 'utf8', cwd: ROOT, timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, output: r.stdout + r.stderr };
}

/**
 * The daemons a test starts go in the returned list; when the test ends they
 * are stopped, and only then is HOME removed (node:test runs after-hooks in
 * registration order, and a running daemon still writes into HOME).
 */
export function stopDaemonsThenRemoveHome(t: { after(fn: () => unknown): void }, home: string): RunningDaemon[] {
  const daemons: RunningDaemon[] = [];
  t.after(async () => {
    for (const d of daemons) await d.stop();
    rmSync(home, { recursive: true, force: true });
  });
  return daemons;
}

export interface RunningDaemon {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * `sealmail start [args]`, resolved once it has printed its settings (the
 * last line says how to stop it); rejected with its output if it exits first.
 */
export async function startCli(env: NodeJS.ProcessEnv, opts: { args?: string[]; timeoutMs?: number } = {}): Promise<RunningDaemon> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const child = spawn(process.execPath, [...CLI_ARGS, 'start', ...(opts.args ?? [])], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in time:\n${out}\n${err}`)), timeoutMs);
    const check = (): void => {
      if (out.includes('Stop with Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a python3 imaplib script; it prints one JSON value, which is returned. */
export function pythonImap<T>(script: string, args: Record<string, string | number>): T {
  const r = spawnSync('python3', ['-c', script], { env: { ...process.env, ...Object.fromEntries(Object.entries(args).map(([k, v]) => [k, String(v)])) }, encoding: 'utf8', timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** The config file of a CLI environment (SEALMAIL_CONFIG_DIR or $HOME/.config/sealmail). */
export interface CliConfigFile {
  accounts: Array<{ address: string; localPassword: string; passphraseFile?: string; alwaysEncrypt: boolean }>;
  imap: { port: number };
  smtp: { port: number };
  embeddedProvider?: { httpPort: number; host: string };
}

export function readCliConfig(env: NodeJS.ProcessEnv): CliConfigFile {
  const dir = env.SEALMAIL_CONFIG_DIR ?? join(env.HOME!, '.config', 'sealmail');
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as CliConfigFile;
}

/**
 * The running daemon's status.json (what `sealmail status --json` prints; the
 * daemon rewrites it every 2 s), polled until `until` holds. Read directly:
 * a CLI process per poll costs seconds on a loaded machine.
 */
export async function pollStatus<T = Record<string, unknown>>(env: NodeJS.ProcessEnv, until: (s: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const file = join(env.SEALMAIL_DATA_DIR ?? join(env.HOME!, '.local', 'share', 'sealmail'), 'status.json');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let s: T | null = null;
    try {
      s = JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch {
      // not written yet
    }
    if (s && until(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never matched: ${JSON.stringify(s)}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

/**
 * A plain SMTP dialogue (no TLS, AUTH PLAIN) that returns every reply, so a
 * test sees exactly what the gateway answered at each step.
 */
export async function smtpDialogue(port: number, user: string, password: string, commands: string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let buffer = '';
  const waiters: Array<(reply: string) => void> = [];
  socket.on('data', (d: string) => {
    buffer += d;
    // A reply ends with a line "NNN text" (a space after the code, RFC 5321 4.2).
    let m: RegExpExecArray | null;
    while ((m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer))) {
      const end = m.index + m[0].length;
      const reply = buffer.slice(0, end).replace(/^\r\n/, '');
      buffer = buffer.slice(end);
      waiters.shift()?.(reply.trim());
    }
  });
  const next = (): Promise<string> => new Promise((resolve) => waiters.push(resolve));
  const send = (line: string): Promise<string> => {
    const p = next();
    socket.write(line + '\r\n');
    return p;
  };
  const replies = [await next()];
  replies.push(await send('EHLO test.localhost'));
  replies.push(await send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`));
  for (const c of commands) replies.push(await send(c));
  socket.end('QUIT\r\n');
  return replies;
}

/** Sends one text message through a daemon's SMTP gateway with nodemailer, the way a mail client would. */
export async function sendThroughGateway(port: number, user: string, password: string, mail: { to: string; subject: string; text: string }): Promise<{ accepted: string[]; rejected: string[] }> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user, pass: password } });
  try {
    const info = await transport.sendMail({ from: user, ...mail });
    return { accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
  } finally {
    transport.close();
  }
}

/**
 * python3 imaplib: waits (up to WAIT seconds) for a message whose Subject
 * contains SUBJECT in MAILBOX, then prints its UID, FLAGS, the X-Sealmail
 * headers and its full text (BODY.PEEK[], so \Seen is not set); with
 * NO_BODY set, its RFC822.SIZE instead.
 */
export const IMAP_FIND_MESSAGE = `
import imaplib, json, os, time
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.login(os.environ['USER_ADDR'], os.environ['PASSWORD'])
deadline = time.time() + float(os.environ.get('WAIT', '40'))
found = []
while True:
    m.select(os.environ.get('MAILBOX', 'INBOX'), readonly=True)
    typ, data = m.uid('SEARCH', None, 'SUBJECT', '"' + os.environ['SUBJECT'] + '"')
    found = data[0].split()
    if found or time.time() > deadline:
        break
    time.sleep(0.3)
out = {'count': len(found)}
if found:
    uid = found[-1].decode()
    typ, data = m.uid('FETCH', uid, '(FLAGS RFC822.SIZE)' if os.environ.get('NO_BODY') else '(FLAGS BODY.PEEK[])')
    # Unsolicited FETCH/EXISTS responses may come first: take the one carrying the literal.
    part = [d for d in data if isinstance(d, tuple)]
    if os.environ.get('NO_BODY'):
        meta = [d.decode() for d in data if isinstance(d, bytes) and ('UID ' + uid) in d.decode()][0]
        out.update({'uid': uid, 'flags': meta.split('FLAGS (')[1].split(')')[0].split(), 'size': int(meta.split('RFC822.SIZE ')[1].split(' ')[0].rstrip(')'))})
    elif not part:
        raise SystemExit('no BODY[] literal in ' + repr(data))
    else:
        meta = part[0][0].decode()
        out.update({'uid': uid, 'flags': meta.split('FLAGS (')[1].split(')')[0].split(), 'raw': part[0][1].decode('utf-8', 'replace')})
    typ, data = m.status(os.environ.get('MAILBOX', 'INBOX'), '(MESSAGES UIDVALIDITY)')
    out['status'] = data[0].decode()
m.logout()
print(json.dumps(out))
`;

export interface FoundMessage {
  count: number;
  uid?: string;
  flags?: string[];
  raw?: string;
  size?: number;
  status?: string;
}

/**
 * The environment of a second device of the same user on this machine: its
 * own config and data dirs (SEALMAIL_CONFIG_DIR/DATA_DIR) and local ports;
 * `providerUrl` is the first daemon's embedded provider.
 */
export async function secondDeviceEnv(first: CliEnv): Promise<{ env: NodeJS.ProcessEnv; imapPort: number; providerUrl: string }> {
  const [imap, smtp] = await freePorts(2);
  const provider = readCliConfig(first.env).embeddedProvider;
  if (!provider) throw new Error('the first device runs no embedded provider');
  return {
    env: {
      ...first.env,
      SEALMAIL_CONFIG_DIR: join(first.home, 'device2/config'),
      SEALMAIL_DATA_DIR: join(first.home, 'device2/data'),
      SEALMAIL_IMAP_PORT: String(imap),
      SEALMAIL_SMTP_PORT: String(smtp),
    },
    imapPort: imap!,
    providerUrl: `http://${provider.host}:${provider.httpPort}/`,
  };
}

/** `sealmail start` without waiting for it to be ready (to signal it while it starts); `exited` has the code or signal. */
export function spawnCliStart(env: NodeJS.ProcessEnv): RunningDaemon & { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [...CLI_ARGS, 'start'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return (await exited).code;
    },
  };
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The daemon's 'mail index ready' log lines (SEALMAIL_LOG_FORMAT=json on stderr), one per account opened. */
export function indexReadyLines(stderr: string): Array<{ snapshot: boolean; replayed: number; entries: number }> {
  return stderr
    .split('\n')
    .filter((l) => l.includes('"mail index ready"'))
    .map((l) => JSON.parse(l) as { snapshot: boolean; replayed: number; entries: number });
}
