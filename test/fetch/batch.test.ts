// The fetch loop stores messages in batches (StoreBatcher → the mail
// store's deliverMany, then one bulk delete of the incoming docs). Real
// account, provider, OpenPGP and store; faults are injected only where a
// real one cannot be produced on demand (one message's store failing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FetchLoop, type FetchDeps } from '../../src/fetch/loop.js';
import type { DocumentStore } from '../../src/soledad/types.js';
import { deliverBatch, type DeliveryHost } from '../../src/mail/store/batch-delivery.js';
import { sha256Hex } from '../../src/mail/store/ids.js';
import { encryptTo, incomingIds, message, putIncoming, startFetchAccount, waitFor, type FetchAccountFixture } from '../support/fetch-account.js';

let fx: FetchAccountFixture;

before(async () => {
  fx = await startFetchAccount();
});

after(async () => {
  await fx?.dispose();
});

const STATUS_LINES = 'X-Sealmail-Encryption: none\r\nX-Sealmail-Signature: none\r\n';

function numbered(tag: string, i: number): Buffer {
  return message([`From: s${i}@elsewhere.net`, 'To: alice@example.org', `Subject: ${tag} ${i}`, `Message-ID: <${tag}.${i}@elsewhere.net>`], `body ${tag} ${i}\r\n`);
}

async function bytesOf(hash: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of fx.account.mail.read(hash)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Puts `n` encrypted messages as incoming docs, one second apart in arrival time, and waits until they synced. */
async function incomingBatch(tag: string, n: number): Promise<{ ids: string[]; raws: Buffer[] }> {
  const key = await fx.account.keys.exportPublicKey();
  const raws = Array.from({ length: n }, (_, i) => numbered(tag, i));
  const ids: string[] = [];
  const t0 = Date.parse('2026-03-01T10:00:00.000Z');
  // Put newest first: the loop must still order them by arrival time.
  for (let i = n - 1; i >= 0; i--) ids[i] = await putIncoming(fx, await encryptTo(key, raws[i]!), new Date(t0 + i * 1000).toISOString());
  await waitFor(`${n} incoming docs synced`, async () => {
    const have = new Set(await incomingIds(fx.account));
    return ids.every((id) => have.has(id));
  });
  return { ids, raws };
}

function wired(): FetchDeps {
  return fx.account.fetch.deps;
}

async function inboxSubjects(): Promise<string[]> {
  const { messages } = await fx.account.mail.messages('INBOX');
  const out: string[] = [];
  for (const m of messages) out.push(/Subject: ([^\r]*)/.exec(await bytesOf(m.hash))?.[1] ?? '?');
  return out;
}

test('a burst is stored in batches: every message once, byte-exact, UIDs in arrival order within a batch, incoming docs gone', { timeout: 60_000 }, async () => {
  const before = (await fx.account.mail.messages('INBOX')).messages.length;
  const { raws } = await incomingBatch('burst', 12);
  const deps = wired();
  // The first batch (the first message opened, alone: the loop was idle) is
  // held until all twelve are opened, so the other eleven make one batch.
  let opened = 0;
  let calls = 0;
  const loop = new FetchLoop({
    ...deps,
    open: async (raw) => {
      const r = await deps.open(raw);
      opened++;
      return r;
    },
    deliverMany: async (mailbox, items) => {
      if (calls++ === 0) await waitFor('all twelve opened', () => opened === 12);
      return deps.deliverMany!(mailbox, items);
    },
  });
  await loop.drain();
  assert.deepEqual(loop.batchCounts, { batches: 2, messages: 12 });
  const { messages } = await fx.account.mail.messages('INBOX');
  const mine = messages.slice(before);
  assert.equal(mine.length, 12);
  const stored = await Promise.all(mine.map((m) => bytesOf(m.hash)));
  const order = stored.map((bytes) => raws.findIndex((r) => STATUS_LINES + r.toString() === bytes));
  assert.deepEqual([...order].sort((x, y) => x - y), [...Array(12).keys()], 'each message once, byte-exact');
  const rest = order.slice(1);
  assert.deepEqual(rest, [...rest].sort((x, y) => x - y), 'the second batch in arrival order');
  for (let k = 0; k < 12; k++) assert.equal(mine[k]!.internalDate, Date.parse('2026-03-01T10:00:00.000Z') + order[k]! * 1000);
  assert.deepEqual(await incomingIds(fx.account), []);
  assert.equal(loop.stats.processed, 12);
});

test('deliverMany: a delivery id twice in one batch and one already stored are each one message', { timeout: 60_000 }, async () => {
  const mail = fx.account.mail;
  const start = (await mail.messages('INBOX')).messages.length;
  const [a, b, c] = [numbered('dup', 1), numbered('dup', 2), numbered('dup', 3)];
  const [first] = await mail.deliverMany('INBOX', [{ raw: a, deliveryId: 'dup-a', internalDate: 1 }]);
  assert.ok(first && !(first instanceof Error) && !first.duplicate);
  const out = await mail.deliverMany('INBOX', [
    { raw: b, deliveryId: 'dup-b', internalDate: 2 },
    { raw: a, deliveryId: 'dup-a', internalDate: 1 },
    { raw: c, deliveryId: 'dup-c', internalDate: 3 },
    { raw: b, deliveryId: 'dup-b', internalDate: 2 },
  ]);
  for (const o of out) assert.ok(!(o instanceof Error), String(o));
  const [ob, oa, oc, ob2] = out as Array<{ uid: number; duplicate: boolean }>;
  assert.equal(oa!.uid, first.uid);
  assert.equal(oa!.duplicate, true);
  assert.equal(ob!.duplicate, false);
  assert.equal(ob2!.uid, ob!.uid, 'the repeat in the batch gets the first one’s UID');
  assert.equal(ob2!.duplicate, true);
  assert.ok(oc!.uid > ob!.uid, 'UIDs follow the order given');
  const { messages } = await mail.messages('INBOX');
  assert.equal(messages.length, start + 3);
});

test('one message whose content cannot be stored fails alone; the rest of its batch is stored', { timeout: 60_000 }, async () => {
  const mail = fx.account.mail as unknown as DeliveryHost & { docs: DocumentStore; index: DeliveryHost['index']; clock: DeliveryHost['clock']; analyzer: DeliveryHost['analyzer'] };
  const bad = numbered('bad-content', 0);
  const badHash = sha256Hex(bad);
  // The real store, except that writing this one blob fails (as a full disk would).
  const docs = new Proxy(mail.docs, {
    get(target, prop, receiver) {
      if (prop === 'putBlob') {
        return (id: string, ...rest: unknown[]) => {
          if (id === badHash) return Promise.reject(new Error('No space left on device'));
          return (target.putBlob as (...a: unknown[]) => unknown).call(target, id, ...rest);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const real = fx.account.mail;
  const host: DeliveryHost = {
    docs,
    index: mail.index,
    clock: mail.clock,
    analyzer: (real as unknown as { analyzer: DeliveryHost['analyzer'] }).analyzer,
    summaries: real.summaries!,
    target: (name) => {
      const slot = mail.index.byName(name);
      if (!slot) throw new Error('no such mailbox');
      return slot;
    },
    serialBatch: (fn) => (real as unknown as { serial<T>(f: () => Promise<T>): Promise<T> }).serial(() => mail.index.batch(fn)),
  };
  const start = (await real.messages('INBOX')).messages.length;
  const out = await deliverBatch(host, 'INBOX', [
    { raw: numbered('bad-content', 1), deliveryId: 'bc-1', internalDate: 1 },
    { raw: bad, deliveryId: 'bc-0', internalDate: 2 },
    { raw: numbered('bad-content', 2), deliveryId: 'bc-2', internalDate: 3 },
  ]);
  assert.ok(!(out[0] instanceof Error));
  assert.match(String(out[1]), /No space left/);
  assert.ok(!(out[2] instanceof Error));
  assert.equal((await real.messages('INBOX')).messages.length, start + 2);
});

test('the loop: one message the store refuses stays for retry, its batch-mates are stored and removed; a batch failing as a whole is stored one by one', { timeout: 60_000 }, async () => {
  const { ids } = await incomingBatch('refused', 6);
  const deps = wired();
  let wholeBatchFailures = 0;
  const loop = new FetchLoop({
    ...deps,
    // Every other batch fails as a whole (the loop then stores one by one); in the others, message 3 is refused.
    deliverMany: async (mailbox, items) => {
      if (items.length > 1 && wholeBatchFailures++ % 2 === 0) throw new Error('batch write failed');
      const out = await deps.deliverMany!(mailbox, items.filter((i) => i.deliveryId !== ids[3]));
      return items.map((i) => (i.deliveryId === ids[3] ? new Error('refused') : out.shift()!));
    },
    deliver: async (mailbox, raw, o) => {
      if (o.deliveryId === ids[3]) throw new Error('refused');
      await deps.deliver(mailbox, raw, o);
    },
  });
  await loop.drain();
  assert.equal(loop.stats.processed, 5);
  assert.equal(loop.stats.failed, 1);
  assert.deepEqual(await incomingIds(fx.account), [ids[3]], 'only the refused one is kept');
  const subjects = await inboxSubjects();
  for (const i of [0, 1, 2, 4, 5]) assert.equal(subjects.filter((s) => s === `refused ${i}`).length, 1, `refused ${i} once`);
  assert.equal(subjects.filter((s) => s === 'refused 3').length, 0);
  // The next pass (the store accepts it now) stores it, once.
  await new FetchLoop(deps).drain();
  assert.deepEqual(await incomingIds(fx.account), []);
  assert.equal((await inboxSubjects()).filter((s) => s === 'refused 3').length, 1);
});

test('a crash between a batch being stored and its incoming docs deleted: the retry stores nothing twice', { timeout: 60_000 }, async () => {
  const { ids } = await incomingBatch('stored-not-deleted', 8);
  const deps = wired();
  const killed = async (): Promise<void> => {
    throw new Error('killed before the incoming docs were deleted');
  };
  const dying = new FetchLoop({ ...deps, removeIncoming: killed, removeIncomingMany: killed });
  await dying.drain();
  let subjects = await inboxSubjects();
  for (let i = 0; i < 8; i++) assert.equal(subjects.filter((s) => s === `stored-not-deleted ${i}`).length, 1);
  assert.deepEqual((await incomingIds(fx.account)).sort(), [...ids].sort(), 'all kept: none deleted');
  await new FetchLoop(deps).drain();
  subjects = await inboxSubjects();
  for (let i = 0; i < 8; i++) assert.equal(subjects.filter((s) => s === `stored-not-deleted ${i}`).length, 1, `message ${i} once after the retry`);
  assert.deepEqual(await incomingIds(fx.account), []);
});

test('removeIncomingMany: a doc edited since it was listed (stale rev) and one already gone are still handled, each once', { timeout: 60_000 }, async () => {
  const { ids } = await incomingBatch('stale-rev', 3);
  const soledad = fx.account.soledad;
  await incomingIds(fx.account); // lists them: the queue now holds each one's rev
  // A replicated edit of ids[0] (another device, or the MX rewriting it) moves its rev on.
  const { couchUrl, token } = fx.account.session;
  const url = `${couchUrl.replace(/\/$/, '')}/${ids[0]}`;
  const current = (await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
  const edited = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ ...current, note: 'edited elsewhere' }),
  });
  assert.equal(edited.status, 201);
  await waitFor('the edit synced', async () => {
    const doc = (await (soledad as unknown as { mainDb: PouchDB.Database }).mainDb.get(ids[0]!).catch(() => null)) as { _rev?: string } | null;
    return doc?._rev !== current._rev;
  });
  // ids[1] is removed on its own first (as a retry on another path would).
  await soledad.removeIncoming(ids[1]!);
  await soledad.removeIncomingMany(ids);
  assert.deepEqual((await incomingIds(fx.account)).filter((id) => ids.includes(id)), []);
  await soledad.removeIncomingMany(ids); // idempotent
});
