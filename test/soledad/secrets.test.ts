import { test } from 'node:test';
import assert from 'node:assert/strict';
import PouchDB from 'pouchdb';
import path from 'node:path';
import { deriveKeys, generateSecret, unwrapSecret, wrapSecret } from '../../src/soledad/secrets.js';
import { Soledad, SECRET_DOC_ID, WrongPassphraseError } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF } from './helpers.js';

test('wrapped secret records its KDF parameters and unwraps only with the right passphrase', async () => {
  const secret = generateSecret();
  assert.equal(secret.length, 32);
  const wrapped = await wrapSecret(secret, 'correct horse', TEST_KDF);
  assert.equal(wrapped.v, 1);
  assert.deepEqual({ N: wrapped.kdf.N, r: wrapped.kdf.r, p: wrapped.kdf.p, name: wrapped.kdf.name }, { ...TEST_KDF, name: 'scrypt' });
  assert.equal(Buffer.from(wrapped.kdf.salt, 'base64').length, 16);
  assert.ok(!JSON.stringify(wrapped).includes(secret.toString('base64')));
  assert.ok((await unwrapSecret(wrapped, 'correct horse')).equals(secret));
  await assert.rejects(unwrapSecret(wrapped, 'wrong horse'), WrongPassphraseError);
  // The parameters are authenticated: lowering N in the record does not give a usable record.
  await assert.rejects(unwrapSecret({ ...wrapped, kdf: { ...wrapped.kdf, N: 512 } }, 'correct horse'), WrongPassphraseError);
});

test('HKDF derives distinct document and id keys, stable per secret', () => {
  const secret = generateSecret();
  const a = deriveKeys(secret);
  const b = deriveKeys(Buffer.from(secret));
  assert.ok(a.docKey.equals(b.docKey) && a.idKey.equals(b.idKey));
  assert.ok(!a.docKey.equals(a.idKey));
  assert.ok(!a.docKey.equals(secret) && !a.idKey.equals(secret));
  const other = deriveKeys(generateSecret());
  assert.ok(!other.docKey.equals(a.docKey));
});

test('production default is scrypt N=2^17, r=8 (128 MiB)', async () => {
  const { DEFAULT_KDF } = await import('../../src/soledad/secrets.js');
  assert.equal(128 * DEFAULT_KDF.N * DEFAULT_KDF.r, 128 * 1024 * 1024);
});

test('Soledad.open: wrong passphrase is a clear error and changes nothing; passphrase change re-wraps without touching documents', async () => {
  const s = new Scratch();
  try {
    const dataDir = s.dir();
    const a = await Soledad.create({ dataDir, passphrase: 'first', kdf: TEST_KDF });
    await a.put('note', 'n1', { text: 'hello' });
    await a.close();

    const before = await readRaw(dataDir);
    await assert.rejects(Soledad.open({ dataDir, passphrase: 'nope' }), (err: Error) => {
      assert.ok(err instanceof WrongPassphraseError);
      assert.match(err.message, /wrong passphrase/);
      return true;
    });
    assert.deepEqual(await readRaw(dataDir), before, 'a failed open must not write');

    const b = await Soledad.open({ dataDir, passphrase: 'first' });
    await assert.rejects(b.changePassphrase('not-the-current', 'second', TEST_KDF), WrongPassphraseError);
    await b.changePassphrase('first', 'second', TEST_KDF);
    await b.close();

    const after = await readRaw(dataDir);
    // Only the wrapped secret changed; the document ciphertext is the same revision.
    assert.notDeepEqual(after.secret, before.secret);
    assert.deepEqual(after.others, before.others);

    await assert.rejects(Soledad.open({ dataDir, passphrase: 'first' }), WrongPassphraseError);
    const c = await Soledad.open({ dataDir, passphrase: 'second' });
    assert.deepEqual(await c.get('note', 'n1'), { text: 'hello' });
    await c.close();
  } finally {
    await s.cleanup();
  }
});

async function readRaw(dataDir: string): Promise<{ secret: unknown; others: unknown }> {
  const db = new PouchDB(path.join(dataDir, 'main'));
  try {
    const all = await db.allDocs({ include_docs: true });
    return {
      secret: all.rows.find((r) => r.id === SECRET_DOC_ID)?.doc,
      others: all.rows.filter((r) => r.id !== SECRET_DOC_ID).map((r) => r.doc),
    };
  } finally {
    await db.close();
  }
}

test('passphrase derivations run one at a time: two accounts opened together hold one 128 MiB scrypt at a time, not two', { timeout: 60_000 }, async () => {
  // A fresh process, so that its peak RSS (VmHWM) is this test's alone.
  const { execFileSync } = await import('node:child_process');
  const secrets = new URL('../../src/soledad/secrets.ts', import.meta.url).href;
  const script = `
    const { wrapSecret, unwrapSecret, generateSecret } = await import(${JSON.stringify(secrets)});
    const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const before = hwm();
    const secret = generateSecret();
    const [a, b] = await Promise.all([wrapSecret(secret, 'one'), wrapSecret(secret, 'two')]);
    const back = await Promise.all([unwrapSecret(a, 'one'), unwrapSecret(b, 'two'), unwrapSecret(a, 'wrong').catch(() => null)]);
    console.log(JSON.stringify({ growth: hwm() - before, ok: back[0].equals(secret) && back[1].equals(secret) && back[2] === null }));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=commonjs', '-e', `(async () => { ${script} })()`], { encoding: 'utf8' });
  const { growth, ok } = JSON.parse(out.trim().split('\n').at(-1)!) as { growth: number; ok: boolean };
  assert.ok(ok, 'each secret unwraps with its own passphrase; a wrong one fails and the next derivation still runs');
  const MiB = 1024 * 1024;
  // One derivation: 128 MiB; two side by side would be ~256 MiB.
  assert.ok(growth > 100 * MiB && growth < 190 * MiB, `peak grew by ${(growth / MiB).toFixed(0)} MiB`);
});
