// Shared fixtures for the provider tests: a real provider (embedded CouchDB,
// real TCP ports on 127.0.0.1) in a temp dir, with cheap scrypt parameters.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
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

export async function api(p: Provider, method: string, urlPath: string, body?: unknown, token?: string): Promise<Response> {
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

export async function registerAndLogin(p: Provider, address: string, password = 'correct horse battery'): Promise<Session> {
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

export async function publishKey(p: Provider, s: Session, armored: string): Promise<Response> {
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
