// MOVE is one write: a daemon dying in the middle of it leaves the message
// either moved or not, never in both mailboxes. (Before, the copy and the
// source's expunge were two writes; the crash soak under heavy load found
// messages in both INBOX and the target after a MOVE that got no reply.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore } from '../../src/mail/store/index.js';
import type { DocumentStore } from '../../src/soledad/types.js';

/** A store whose writes stop (as if the process died) once `writesLeft` reaches zero. */
function dyingStore(inner: DocumentStore, state: { writesLeft: number }): DocumentStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'put' || prop === 'bulkPut' || prop === 'delete' || prop === 'putBlob') {
        return (...args: unknown[]) => (state.writesLeft-- > 0 ? (value as (...a: unknown[]) => unknown).apply(target, args) : Promise.reject(new Error('process killed')));
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

test('a MOVE cut off after its first write leaves the message in exactly one mailbox', async () => {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const first = await openMailStore({ docs, local });
  await first.createMailbox('Kept');
  for (let i = 0; i < 3; i++) await first.append('INBOX', Buffer.from(`Subject: m${i}\r\nMessage-ID: <m${i}@x>\r\n\r\nbody ${i}\r\n`));
  await first.close();

  const state = { writesLeft: Infinity };
  const dying = await openMailStore({ docs: dyingStore(docs, state), local });
  const { messages } = await dying.messages('INBOX');
  state.writesLeft = 1; // the move's first write lands, then the process is gone
  await dying.move('INBOX', messages.map((m) => m.uid), 'Kept').catch(() => undefined);
  await dying.close().catch(() => undefined);

  const after = await openMailStore({ docs, local: new MemoryDocumentStore() });
  const inbox = (await after.messages('INBOX')).messages.length;
  const kept = (await after.messages('Kept')).messages.length;
  await after.close();
  assert.equal(inbox + kept, 3, `each message once (INBOX ${inbox}, Kept ${kept})`);
});
