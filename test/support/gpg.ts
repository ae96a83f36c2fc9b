// The real GnuPG in a throw-away GNUPGHOME, for interop tests. Each instance
// has its own home (agent socket included); close() kills its agent and
// removes the directory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface GpgResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface Gpg {
  home: string;
  run(args: string[], input?: Buffer | string): Promise<GpgResult>;
  /** Runs and throws with gpg's stderr on a non-zero exit. */
  ok(args: string[], input?: Buffer | string): Promise<Buffer>;
  /** Generates an unprotected key for `address`; returns its fingerprint. */
  generateKey(address: string, algo?: 'ed25519' | 'rsa3072'): Promise<string>;
  exportPublic(address: string): Promise<string>;
  exportSecret(address: string): Promise<string>;
  importKey(armored: string): Promise<void>;
  close(): Promise<void>;
}

const BASE = ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', '--trust-model', 'always', '--no-auto-key-locate'];

export async function createGpg(): Promise<Gpg> {
  // Short path: the agent's socket path must stay under ~100 bytes.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-gpg-'));
  fs.chmodSync(home, 0o700);
  // A low S2K count keeps passphrase-protected test keys fast (the default is calibrated to ~100 ms per use).
  fs.writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-loopback-pinentry\ns2k-count 65536\n');

  const run = (args: string[], input?: Buffer | string): Promise<GpgResult> =>
    new Promise((resolve, reject) => {
      const child = spawn('gpg', ['--homedir', home, ...BASE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
  const ok = async (args: string[], input?: Buffer | string): Promise<Buffer> => {
    const r = await run(args, input);
    if (r.code !== 0) throw new Error(`gpg ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };

  return {
    home,
    run,
    ok,
    async generateKey(address, algo = 'ed25519') {
      const spec = algo === 'ed25519' ? 'ed25519' : 'rsa3072';
      await ok(['--quick-generate-key', `Test User <${address}>`, spec, 'sign', '1y']);
      const fpr = (await ok(['--with-colons', '--list-keys', address])).toString().match(/^fpr:+([0-9A-F]{40}):/m)?.[1];
      if (!fpr) throw new Error('no fingerprint after key generation');
      await ok(['--quick-add-key', fpr, algo === 'ed25519' ? 'cv25519' : 'rsa3072', 'encr', '1y']);
      return fpr;
    },
    async exportPublic(address) {
      return (await ok(['--armor', '--export', address])).toString();
    },
    async exportSecret(address) {
      return (await ok(['--armor', '--export-secret-keys', address])).toString();
    },
    async importKey(armored) {
      await ok(['--import'], armored);
    },
    async close() {
      await new Promise<void>((resolve) => {
        const c = spawn('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
        c.on('close', () => resolve());
        c.on('error', () => resolve());
      });
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
