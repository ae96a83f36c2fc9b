// The keyring's in-memory docs (keyring.ts) on a real Soledad store: loads
// answered from memory, dropped when the changes feed reports a write that
// did not go through this keyring; and per-address serialising of the
// Autocrypt updates of messages opened at once (keymanager.ts).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyManager } from '../../src/keymanager/index.js';
import { Keyring } from '../../src/keymanager/keyring.js';
import { generateKeyPair, readAnyKey } from '../../src/keymanager/keys.js';
import { KEYRING_DOC, type KeyringDoc } from '../../src/keymanager/types.js';
import type { DocumentStore } from '../../src/soledad/types.js';
import { TempSoledads } from './temp-soledad.js';

const stores = new TempSoledads();
after(() => stores.closeAll());

/** Counts the keyring documents read from the store (the real store does the reading). */
function countingReads(store: DocumentStore): { store: DocumentStore; reads: () => number } {
  let n = 0;
  const get = store.get.bind(store);
  const counted = Object.create(store) as DocumentStore;
  counted.get = <T>(type: string, id: string): Promise<T | null> => {
    if (type === KEYRING_DOC) n++;
    return get<T>(type, id);
  };
  return { store: counted, reads: () => n };
}

async function until(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('keyring cache', () => {
  it('answers repeated loads from memory and sees a write made past it (another device, by sync) through the changes feed', async () => {
    const sol = await stores.create();
    const { store, reads } = countingReads(sol);
    const keyring = new Keyring(store);
    const doc: KeyringDoc = { address: 'bob@example.net', keys: [], policy: { alwaysEncrypt: false } };
    await sol.put(KEYRING_DOC, doc.address, doc);
    // Nothing is cached until the feed has surely started (a second); then one read fills the cache.
    await until('the cache to take a doc', async () => {
      const before = reads();
      await keyring.load('Bob@Example.net');
      return reads() === before;
    });
    const before = reads();
    for (let i = 0; i < 20; i++) assert.equal((await keyring.load('bob@example.net')).policy?.alwaysEncrypt, false);
    assert.equal(reads(), before, 'no document read while nothing changed');

    // A caller changing what it loaded does not change the cache.
    const mine = await keyring.load('bob@example.net');
    mine.policy = { alwaysEncrypt: true };
    assert.equal((await keyring.load('bob@example.net')).policy?.alwaysEncrypt, false);

    // Written straight into the store (as a synced doc arrives): the feed drops the cached one.
    await sol.put(KEYRING_DOC, doc.address, { ...doc, policy: { alwaysEncrypt: true } });
    await until('the synced version', async () => (await keyring.load('bob@example.net')).policy?.alwaysEncrypt === true);

    // Its own save is what the next load returns, with no read.
    const saved = await keyring.load('bob@example.net');
    saved.policy = { alwaysEncrypt: false };
    await keyring.save(saved);
    assert.equal((await keyring.load('bob@example.net')).policy?.alwaysEncrypt, false);

    // A deleted doc reads as an empty keyring again.
    await sol.delete(KEYRING_DOC, doc.address);
    await until('the deletion', async () => (await keyring.load('bob@example.net')).policy === undefined);
  });

  it('keeps every key when several messages from one sender are processed at once', async () => {
    const sol = await stores.create();
    const km = new KeyManager({ store: sol, address: 'alice@example.org', wkd: false });
    const keys = await Promise.all([0, 1, 2, 3].map(() => generateKeyPair({ address: 'bob@example.net', lifetimeSeconds: 0 })));
    const mails = await Promise.all(
      keys.map(async (k, i) => {
        const keydata = Buffer.from((await readAnyKey(k.publicArmored)).write()).toString('base64');
        const date = new Date(Date.UTC(2026, 0, 1 + i)).toUTCString();
        return Buffer.from(`From: bob@example.net\r\nTo: alice@example.org\r\nDate: ${date}\r\nAutocrypt: addr=bob@example.net; keydata=${keydata}\r\n\r\nhi\r\n`);
      }),
    );
    // As the fetch loop does: all at once; each adds its key to the same keyring doc.
    await Promise.all(mails.map((m) => km.processIncoming(m, { encrypted: false })));
    const doc = await new Keyring(sol).load('bob@example.net');
    assert.deepEqual(doc.keys.map((k) => k.fingerprint).sort(), keys.map((k) => k.fingerprint).sort(), 'no update lost');
    assert.equal(doc.autocrypt?.fingerprint, keys[3].fingerprint, 'the newest header is the current key');
  });
});
