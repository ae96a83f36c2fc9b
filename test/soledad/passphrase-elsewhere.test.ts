// A passphrase changed on one device reaches the others: a device whose local
// wrapping is still the old one opens with the new passphrase by taking the
// remote's newer wrapping (replicated, so both copies share one history);
// the old passphrase then no longer opens it, and a wrong one never does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Soledad, WrongPassphraseError } from '../../src/soledad/index.js';
import { Scratch, TEST_KDF, createDb } from './helpers.js';

test('a device opens with a passphrase changed on another device (the remote wrapping is adopted)', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  try {
    const couch = await s.couch();
    const remote = { url: await createDb(couch, 'alice') };
    const a = s.defer(await Soledad.create({ dataDir: s.dir(), passphrase: 'old passphrase', kdf: TEST_KDF, remote, liveSync: false }));
    await a.put('entry', 'e1', { n: 1 });
    await a.syncOnce();
    const dirB = s.dir();
    const b = await Soledad.restore({ dataDir: dirB, passphrase: 'old passphrase', remote, liveSync: false });
    await b.close();

    // Let the push of a's change finish before b tries: syncOnce pushes it.
    let hooked = false;
    await a.changePassphrase('old passphrase', 'new passphrase', TEST_KDF, async () => void (hooked = true));
    assert.ok(hooked);
    await a.syncOnce();

    // Without a remote, b only knows the old wrapping.
    await assert.rejects(Soledad.open({ dataDir: dirB, passphrase: 'new passphrase' }), WrongPassphraseError);
    // A wrong passphrase stays wrong with the remote too.
    await assert.rejects(Soledad.open({ dataDir: dirB, passphrase: 'guess', remote, liveSync: false }), WrongPassphraseError);
    const reopened = await Soledad.open({ dataDir: dirB, passphrase: 'new passphrase', remote, liveSync: false });
    assert.deepEqual(await reopened.get('entry', 'e1'), { n: 1 });
    await reopened.close();
    // Adopted locally: offline, the new passphrase opens b and the old one no longer does.
    const offline = s.defer(await Soledad.open({ dataDir: dirB, passphrase: 'new passphrase' }));
    assert.deepEqual(await offline.get('entry', 'e1'), { n: 1 });
    await offline.close();
    await assert.rejects(Soledad.open({ dataDir: dirB, passphrase: 'old passphrase' }), WrongPassphraseError);
  } finally {
    await s.cleanup();
  }
});

test('a refusal in the beforeStore hook leaves the old passphrase in place', { timeout: 60_000 }, async () => {
  const s = new Scratch();
  try {
    const dir = s.dir();
    const a = await Soledad.create({ dataDir: dir, passphrase: 'old passphrase', kdf: TEST_KDF });
    await assert.rejects(a.changePassphrase('old passphrase', 'new passphrase', TEST_KDF, async () => Promise.reject(new Error('provider said no'))), /provider said no/);
    await assert.rejects(a.changePassphrase('not it', 'new passphrase', TEST_KDF, async () => assert.fail('the hook runs only after the current passphrase is checked')), WrongPassphraseError);
    await a.close();
    const again = await Soledad.open({ dataDir: dir, passphrase: 'old passphrase' });
    await again.close();
  } finally {
    await s.cleanup();
  }
});
