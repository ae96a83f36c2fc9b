// The optional HKP keyserver of issue 6's lookup chain, as a user sets it:
// `account create --keyserver URL` writes it to the config, and an account
// opened with it finds a key only that keyserver has (a local HKP server,
// real HTTP); without it the keyserver is never asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProvider } from '../../src/provider/index.js';
import { openAccount } from '../../src/daemon/account.js';
import { loadConfig } from '../../src/daemon/config.js';
import { generateKeyPair } from '../../src/keymanager/keys.js';
import { CLI_ARGS, cliEnv } from '../support/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BOB = 'bob@elsewhere.invalid';

function runCli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI_ARGS, ...args], { env, cwd: ROOT, timeout: 100_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('an account with --keyserver finds a key only the HKP keyserver has; without it the keyserver is not asked', { timeout: 120_000 }, async (t) => {
  const { home, env } = await cliEnv();
  const provider = await startProvider({ dataDir: join(home, 'provider'), domains: ['example.org'], scrypt: { N: 1024 } });
  const bob = await generateKeyPair({ address: BOB, lifetimeSeconds: 0 });
  const asked: string[] = [];
  const hkp = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    asked.push(url.searchParams.get('search') ?? '');
    if (url.pathname === '/pks/lookup' && url.searchParams.get('op') === 'get' && url.searchParams.get('search') === BOB) {
      res.writeHead(200, { 'content-type': 'application/pgp-keys' }).end(bob.publicArmored);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => hkp.listen(0, '127.0.0.1', r));
  const keyserver = `http://127.0.0.1:${(hkp.address() as AddressInfo).port}`;
  const runtimes: Array<{ close(): Promise<void> }> = [];
  t.after(async () => {
    for (const r of runtimes) await r.close().catch(() => undefined);
    hkp.close();
    await provider.close();
    rmSync(home, { recursive: true, force: true });
  });

  const passFile = join(home, 'pass');
  writeFileSync(passFile, 'correct horse battery\n', { mode: 0o600 });
  const bad = await runCli(env, ['account', 'create', 'x@example.org', '--provider', provider.httpUrl, '--passphrase-file', passFile, '--keyserver', 'ftp://nope']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--keyserver must be an http\(s\) URL/);
  const created = await runCli(env, ['account', 'create', 'alice@example.org', '--provider', provider.httpUrl, '--passphrase-file', passFile, '--keyserver', keyserver]);
  assert.equal(created.status, 0, created.stderr);
  const config = loadConfig(join(home, '.config', 'sealmail', 'config.json'))!;
  const alice = config.accounts.find((a) => a.address === 'alice@example.org')!;
  assert.equal(alice.keyserver, keyserver, 'kept in the config');

  // The account as the daemon opens it.
  const runtime = await openAccount({ config: alice, dataDir: join(home, '.local', 'share', 'sealmail'), passphrase: 'correct horse battery' });
  runtimes.push(runtime);
  const found = await runtime.keys.lookup(BOB);
  assert.ok(found.found, 'found through the keyserver');
  assert.equal(found.key.source, 'hkp');
  assert.equal(found.key.fingerprint, bob.fingerprint);

  // Another account without a keyserver: the keyserver is never asked.
  asked.length = 0;
  const plain = await openAccount({
    config: { address: 'carol@example.org', providerUrl: provider.httpUrl, localPassword: 'local-password-1', alwaysEncrypt: false },
    dataDir: join(home, 'other'),
    passphrase: 'another passphrase',
    create: 'new',
    kdf: { N: 1024, r: 8, p: 1 },
    loginCost: 1024,
  });
  runtimes.push(plain);
  assert.equal((await plain.keys.lookup(BOB)).found, false);
  assert.deepEqual(asked, []);
});
