// A MailStore over two in-memory document stores: the real store code (index,
// UIDs, merges, change events), no disk and no crypto. For IMAP tests.
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { openMailStore, type OpenedMailStore } from '../../src/mail/store/index.js';

export interface MemoryMailStore extends OpenedMailStore {
  /** The synced document store underneath (to inspect documents or blobs). */
  docs: MemoryDocumentStore;
  /** The device-local store underneath. */
  local: MemoryDocumentStore;
}

export async function createMemoryMailStore(): Promise<MemoryMailStore> {
  const docs = new MemoryDocumentStore();
  const local = new MemoryDocumentStore();
  const store = await openMailStore({ docs, local });
  const close = store.close.bind(store);
  return Object.assign(store, {
    docs,
    local,
    async close(): Promise<void> {
      await close();
      await docs.close();
      await local.close();
    },
  });
}
