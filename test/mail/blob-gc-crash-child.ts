// Child of blob-gc-crash.test.ts: opens the store in argv[2], runs one blob
// garbage collection pass (proposals, grace 0), then the pass that deletes,
// saying "del" after each blob deleted and "done" at the end. The parent
// kills it after some "del": the kill lands somewhere in a later deletion.
// With CUT_AFTER_CHUNKS=k it kills itself right after the k-th write that
// deletes a blob's chunk documents, before that blob's head goes.
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { BlobGc, indexEntriesOf, mailDeviceId } from '../../src/mail/store/blob-gc.js';

const sol = await Soledad.open({ dataDir: process.argv[2]!, passphrase: 'pw' });
const mail = await openMailStore({ docs: sol, local: sol.local, warmSummaries: false });
const cutAfter = Number(process.env.CUT_AFTER_CHUNKS ?? 0);
if (cutAfter > 0) {
  const db = (sol as unknown as { mainDb: PouchDB.Database }).mainDb;
  const bulk = db.bulkDocs.bind(db) as (docs: unknown, ...rest: unknown[]) => Promise<unknown>;
  let seen = 0;
  (db as unknown as { bulkDocs: typeof bulk }).bulkDocs = async (arg: unknown, ...rest: unknown[]) => {
    const res = await bulk(arg, ...rest);
    const docs = (Array.isArray(arg) ? arg : (arg as { docs: unknown[] }).docs) as object[];
    const chunkDeletions = docs.length > 0 && docs.every((d) => Object.keys(d as object).sort().join() === '_deleted,_id,_rev');
    if (chunkDeletions && ++seen >= cutAfter) process.kill(process.pid, 'SIGKILL');
    return res;
  };
}
// Soledad itself, except that each deleteBlob says so when it is done.
const docs = new Proxy(sol, {
  get(target, prop) {
    if (prop === 'deleteBlob') {
      return async (...args: Parameters<Soledad['deleteBlob']>) => {
        await target.deleteBlob(...args);
        process.stdout.write('del\n');
      };
    }
    const value = Reflect.get(target, prop, target) as unknown;
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
const gc = new BlobGc({ docs, entries: indexEntriesOf(mail), device: await mailDeviceId(sol.local), graceMs: 0, batch: 5, storedLatelyMs: 0 });
await gc.run();
await gc.run();
process.stdout.write('done\n');
await gc.stop();
await mail.close();
await sol.close();
