// Runs the real `sealmail` CLI as a child process in a private HOME, the way
// a user would, and python3's imaplib as the mail client.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.js';

const ROOT = join(import.meta.dirname, '..', '..');

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
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { env, encoding: 'utf8', input, cwd: ROOT, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningDaemon {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `sealmail start`, resolved once it has printed its settings (the last line says how to stop it). */
export async function startCli(env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<RunningDaemon> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'start'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
  const r = spawnSync('python3', ['-c', script], { env: { ...process.env, ...Object.fromEntries(Object.entries(args).map(([k, v]) => [k, String(v)])) }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
