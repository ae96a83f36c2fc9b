// The fetch loop in a process of its own, for the crash-safety test
// (test/support/fetch-crash.ts), which SIGKILLs it at random moments.
// Opens the account as the daemon does (Soledad syncing through the
// provider's gateway, keymanager, mail store, FetchLoop).
//   SM_MODE=run:    start the live fetch loop, print "ready", run until killed
//                   (SM_IMPORT_KEY: first import this correspondent's key).
//   SM_MODE=finish: sync and drain until no incoming document is left, then
//                   print one JSON line describing the INBOX (per message:
//                   our two status header lines, and the SHA-256 of the rest)
//                   and exit.
import { createHash } from 'node:crypto';
import { openAccount } from '../../src/daemon/account.js';
import { LOCAL_PASSWORD, LOGIN_COST } from '../support/fetch-account.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const account = await openAccount({
  config: { address: env('SM_ADDRESS'), providerUrl: env('SM_PROVIDER_URL'), localPassword: LOCAL_PASSWORD, alwaysEncrypt: false },
  dataDir: env('SM_DATA_DIR'),
  passphrase: env('SM_PASSPHRASE'),
  loginCost: LOGIN_COST,
});

async function incomingLeft(): Promise<number> {
  let n = 0;
  for await (const _ of account.soledad.incoming({ live: false })) n++;
  return n;
}

if (process.env.SM_MODE === 'run') {
  if (process.env.SM_IMPORT_KEY) await account.keys.importKeys(process.env.SM_IMPORT_KEY);
  account.fetch.start();
  process.stdout.write('ready\n');
} else {
  // Pull what the provider has, process it, push the deletions; until a round finds nothing.
  for (let round = 0; round < 20; round++) {
    await account.soledad.syncOnce();
    await account.fetch.drain();
    await account.soledad.syncOnce();
    if ((await incomingLeft()) === 0) break;
  }
  const { messages } = await account.mail.messages('INBOX');
  const stored: Array<{ status: string; rest: string }> = [];
  for (const meta of messages) {
    const chunks: Buffer[] = [];
    for await (const chunk of account.mail.read(meta.hash)) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    let cut = 0;
    for (let i = 0; i < 2; i++) cut = raw.indexOf('\r\n', cut) + 2;
    stored.push({ status: raw.subarray(0, cut).toString('latin1'), rest: createHash('sha256').update(raw.subarray(cut)).digest('hex') });
  }
  const report = { messages: stored, incoming: await incomingLeft(), stats: { ...account.fetch.stats, undecryptable: account.fetch.stats.undecryptable.size } };
  await account.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
