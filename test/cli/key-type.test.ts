// `sealmail account create --key-type rsa4096` through the real CLI (a child
// process) against a real provider: the key published in the provider's
// directory is an RSA 4096 key, as GnuPG reads it. Also the default
// (curve25519) and a refused unknown type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProvider } from '../../src/provider/index.js';
import { CLI_ARGS, cliEnv } from '../support/cli.js';
import { createGpg } from '../support/gpg.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** `sealmail ARGS`, asynchronously: the provider runs in this process and must keep answering. */
function runCli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...CLI_ARGS, ...args], { env, cwd: ROOT, timeout: 100_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The primary key's `pub` record of `gpg --show-keys --with-colons`: [algorithm id, bits]. */
async function publishedKey(httpUrl: string, address: string, gpg: Awaited<ReturnType<typeof createGpg>>): Promise<{ algo: string; bits: number; uid: string }> {
  const res = await fetch(`${httpUrl}keys/${encodeURIComponent(address)}`);
  assert.equal(res.status, 200, `a key for ${address} is published`);
  const out = (await gpg.ok(['--show-keys', '--with-colons'], await res.text())).toString();
  const pub = out.split('\n').find((l) => l.startsWith('pub:'))!.split(':');
  const uid = out.split('\n').find((l) => l.startsWith('uid:'))?.split(':')[9] ?? '';
  return { bits: Number(pub[2]), algo: pub[3]!, uid };
}

test('account create --key-type rsa4096 publishes an RSA 4096 key; the default is Curve25519', { timeout: 120_000 }, async (t) => {
  const { home, env } = await cliEnv();
  const provider = await startProvider({ dataDir: join(home, 'provider'), domains: ['example.org'], scrypt: { N: 1024 } });
  const gpg = await createGpg();
  t.after(async () => {
    await gpg.close();
    await provider.close();
    rmSync(home, { recursive: true, force: true });
  });
  const passFile = join(home, 'pass');
  writeFileSync(passFile, 'correct horse battery\n', { mode: 0o600 });

  const help = await runCli(env, ['account', 'create', '--help']);
  assert.match(help.stdout, /--key-type <type>/);
  assert.match(help.stdout, /"curve25519",\s+"rsa4096"/, 'the choices are listed');

  const wrong = await runCli(env, ['account', 'create', 'x@example.org', '--provider', provider.httpUrl, '--passphrase-file', passFile, '--key-type', 'dsa']);
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stderr, /--key-type.*dsa.*not one of the allowed choices|Allowed choices are curve25519, rsa4096/s);

  const started = Date.now();
  const rsa = await runCli(env, ['account', 'create', 'rsa@example.org', '--provider', provider.httpUrl, '--passphrase-file', passFile, '--key-type', 'rsa4096']);
  assert.equal(rsa.status, 0, rsa.stderr);
  const rsaSeconds = (Date.now() - started) / 1000;
  const rsaKey = await publishedKey(provider.httpUrl, 'rsa@example.org', gpg);
  // RFC 4880 §9.1 / RFC 9580 §9.1: 1 = RSA (Encrypt or Sign).
  assert.equal(rsaKey.algo, '1', 'RSA primary key');
  assert.equal(rsaKey.bits, 4096);
  assert.match(rsaKey.uid, /rsa@example\.org/);

  const ecc = await runCli(env, ['account', 'create', 'ecc@example.org', '--provider', provider.httpUrl, '--passphrase-file', passFile]);
  assert.equal(ecc.status, 0, ecc.stderr);
  const eccKey = await publishedKey(provider.httpUrl, 'ecc@example.org', gpg);
  // 22 = EdDSA (legacy Ed25519), 255 bits.
  assert.equal(eccKey.algo, '22', 'Ed25519 primary key by default');
  t.diagnostic(`account create with rsa4096: ${rsaSeconds.toFixed(1)} s`);
});
