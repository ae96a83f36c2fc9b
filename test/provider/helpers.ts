// Shared fixtures for the provider tests: a real provider (embedded CouchDB,
// real TCP ports on 127.0.0.1) in a temp dir, with cheap scrypt parameters.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as openpgp from 'openpgp';
import { CLI_ARGS } from '../support/cli.js';
import { startProvider, type Provider, type ProviderOptions } from '../../src/provider/index.js';

export interface TestProvider extends Provider {
  dataDir: string;
  /** Closes the provider and removes its data dir. */
  dispose(): Promise<void>;
}

export async function startTestProvider(extra: Partial<ProviderOptions> = {}): Promise<TestProvider> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
  const provider = await startProvider({ dataDir, domains: ['example.org'], scrypt: { N: 1024 }, ...extra });
  return {
    ...provider,
    dataDir,
    async dispose() {
      await provider.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function api(p: Pick<Provider, 'httpUrl'>, method: string, urlPath: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(new URL(urlPath, p.httpUrl), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

export interface Session {
  address: string;
  token: string;
  couchUrl: string;
}

export async function registerAndLogin(p: Pick<Provider, 'httpUrl'>, address: string, password = 'correct horse battery'): Promise<Session> {
  const reg = await api(p, 'POST', '/api/accounts', { address, password });
  if (reg.status !== 201) throw new Error(`register ${address}: ${reg.status} ${await reg.text()}`);
  const login = await api(p, 'POST', '/api/sessions', { address, password });
  if (login.status !== 200) throw new Error(`login ${address}: ${login.status} ${await login.text()}`);
  const { token, couchUrl } = (await login.json()) as { token: string; couchUrl: string };
  return { address, token, couchUrl };
}

export async function makeKey(address: string): Promise<{ publicKey: string; privateKey: openpgp.PrivateKey }> {
  const { publicKey, privateKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ name: 'Test', email: address }], format: 'armored' });
  return { publicKey, privateKey: await openpgp.readPrivateKey({ armoredKey: privateKey }) };
}

export async function publishKey(p: Pick<Provider, 'httpUrl'>, s: Session, armored: string): Promise<Response> {
  return fetch(new URL(`/keys/${encodeURIComponent(s.address)}`, p.httpUrl), {
    method: 'PUT',
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/pgp-keys' },
    body: armored,
  });
}

/** Every file under dir, recursively. */
export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walkFiles(full));
    else out.push(full);
  }
  return out;
}

const READY = 'sealmail provider for';

export interface RunningProvider {
  /** stdout and stderr so far (JSON log lines and the ready line). */
  output(): string;
  /** ms since the epoch when the provider said it was ready. */
  readyAt: number;
  /** The provider as the API helpers above take it. */
  httpUrl: string;
  mxPort: number;
  stop(): Promise<void>;
}

/** `sealmail provider start` (the real CLI) on ports chosen by the system, with `extra` options. */
export async function startProviderCli(dataDir: string, extra: string[]): Promise<RunningProvider> {
  const args = ['provider', 'start', '--domain', 'example.org', '--data', dataDir, '--http-port', '0', '--mx-port', '0', '--submission-port', '0', ...extra];
  const child = spawn(process.execPath, [...CLI_ARGS, ...args], {
    env: { PATH: process.env.PATH, HOME: dataDir, SEALMAIL_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(() => out.includes(READY) || child.exitCode !== null, 90_000);
    assert.ok(out.includes(READY), `the provider started:\n${out}`);
  } catch (err) {
    await stop();
    throw err;
  }
  const ready = /API (\S+)\s+MX port (\d+)/.exec(out);
  assert.ok(ready, `the ready line names the API and MX port:\n${out}`);
  return { output: () => out, readyAt: Date.now(), httpUrl: ready[1]!, mxPort: Number(ready[2]), stop };
}

/** Polls `cond` every 100 ms; false when it did not hold within `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
