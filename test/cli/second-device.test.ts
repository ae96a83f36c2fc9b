// A second device through the real CLI: `sealmail account login` with its own
// config/data dirs and ports, against the first daemon's running embedded
// provider, restores alice's mailboxes (the welcome message, a folder of her
// own, the flags she set) and then sees new mail; flags set on the second
// device reach the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { join } from 'node:path';
import { cliEnv, IMAP_FIND_MESSAGE, pollStatus, pythonImap, readCliConfig, runCli, runCliInTerminal, secondDeviceEnv, sendThroughGateway, startCli, type FoundMessage, stopDaemonsThenRemoveHome } from '../support/cli.js';

/** On the first device: a folder of alice's own holding a copy of the welcome message, flagged in INBOX. */
const ORGANISE = `
import imaplib, json, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.login(os.environ['USER_ADDR'], os.environ['PASSWORD'])
m.create('Projects')
m.select('INBOX')
typ, data = m.uid('SEARCH', None, 'SUBJECT', '"Welcome to sealmail"')
uid = data[0].split()[-1].decode()
m.uid('COPY', uid, 'Projects')
m.uid('STORE', uid, '+FLAGS', '(\\\\Flagged $Important)')
typ, data = m.uid('FETCH', uid, '(FLAGS)')
m.logout()
print(json.dumps({'flags': data[0].decode()}))
`;

/** Mailboxes, and the welcome message's flags in INBOX and Projects. */
const SURVEY = `
import imaplib, json, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.login(os.environ['USER_ADDR'], os.environ['PASSWORD'])
typ, data = m.list()
boxes = sorted(line.decode().rsplit(' ', 1)[-1].strip('"') for line in data)
out = {'mailboxes': boxes}
for box in ('INBOX', 'Projects'):
    typ, data = m.select(box, readonly=True)
    if typ != 'OK':
        continue
    typ, data = m.uid('SEARCH', None, 'SUBJECT', '"Welcome to sealmail"')
    uids = data[0].split()
    flags = []
    if uids:
        typ, data = m.uid('FETCH', uids[-1], '(FLAGS)')
        flags = sorted(data[0].decode().split('FLAGS (')[1].split(')')[0].split())
    out[box] = {'count': len(uids), 'flags': flags}
m.logout()
print(json.dumps(out))
`;

const MARK_SEEN = `
import imaplib, json, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.login(os.environ['USER_ADDR'], os.environ['PASSWORD'])
m.select('INBOX')
typ, data = m.uid('SEARCH', None, 'SUBJECT', '"' + os.environ['SUBJECT'] + '"')
uid = data[0].split()[-1].decode()
m.uid('STORE', uid, '+FLAGS', '(\\\\Seen)')
m.logout()
print(json.dumps({'uid': uid}))
`;

async function eventually<T>(what: string, probe: () => T, ok: (v: T) => boolean, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: last seen ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('second device: account login restores mailboxes and flags, then sees new mail; its flags reach the first', { timeout: 180_000 }, async (t) => {
  const { home, env, ports } = await cliEnv();
  const daemons = stopDaemonsThenRemoveHome(t, home);
  const first = await startCli(env);
  daemons.push(first);
  const config = readCliConfig(env);
  const [alice, demo] = config.accounts;
  assert.ok(alice && demo && alice.passphraseFile && config.embeddedProvider);
  const asAlice = { USER_ADDR: alice.address, PASSWORD: alice.localPassword };

  const welcome = pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: ports.imap, ...asAlice, SUBJECT: 'Welcome to sealmail' });
  assert.equal(welcome.count, 1);
  const organised = pythonImap<{ flags: string }>(ORGANISE, { PORT: ports.imap, ...asAlice });
  assert.match(organised.flags, /\\Flagged/);
  // The first daemon pushes its changes continuously; wait until nothing is left to push.
  await pollStatus<{ accounts: Array<{ sync: { state: string; pending: number } }> }>(env, (s) => s.accounts.every((a) => a.sync.state === 'idle' && a.sync.pending === 0));

  const device2 = await secondDeviceEnv({ home, env, ports });
  const { env: env2, imapPort: imap2, providerUrl } = device2;

  // In a terminal (a pseudo-tty) the initial sync shows a progress bar that ends full.
  const loginArgs = ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', alice.passphraseFile];
  const inTerminal = runCliInTerminal(env2, loginArgs);
  let login: { status: number | null; stdout: string; stderr: string };
  if (inTerminal) {
    login = { status: inTerminal.status, stdout: inTerminal.output, stderr: inTerminal.output };
    // The total is known from the start (asked from the provider), and the bar ends full.
    const total = /restoring \[[^\]]*\] 0% \| 0\/(\d+) documents/.exec(inTerminal.output)?.[1];
    assert.ok(total, `a progress bar from 0 of the total: ${inTerminal.output}`);
    assert.match(inTerminal.output, new RegExp(`restoring \\[[^\\]]*\\] 100% \\| ${total}/${total} documents`));
    assert.match(inTerminal.output, new RegExp(`restored ${total} documents from the provider`));
  } else {
    t.diagnostic('util-linux `script` not installed: the progress bar is not exercised');
    login = runCli(env2, loginArgs);
  }
  assert.equal(login.status, 0, login.stderr);
  assert.match(login.stdout, new RegExp(`restoring ${alice.address.replace('.', '\\.')}`));
  const restoredDocs = Number(/restored (\d+) documents from the provider/.exec(login.stdout)?.[1]);
  assert.ok(restoredDocs >= 5, `restored ${restoredDocs} documents`);
  assert.match(login.stdout, new RegExp(`port ${imap2}`), 'the new config uses the ports asked for');

  const config2 = readCliConfig(env2);
  assert.equal(config2.imap.port, imap2);
  assert.equal(config2.embeddedProvider, undefined, 'the second device runs no provider of its own');
  const alice2 = config2.accounts[0]!;
  const asAlice2 = { USER_ADDR: alice2.address, PASSWORD: alice2.localPassword };

  const second = await startCli(env2);
  daemons.push(second);
  const restored = pythonImap<{ mailboxes: string[]; INBOX: { count: number; flags: string[] }; Projects: { count: number; flags: string[] } }>(SURVEY, { PORT: imap2, ...asAlice2 });
  assert.ok(restored.mailboxes.includes('Projects'), `mailboxes: ${restored.mailboxes.join(', ')}`);
  assert.deepEqual(restored.INBOX, { count: 1, flags: ['$Important', '\\Flagged'] });
  assert.equal(restored.Projects.count, 1);

  // New mail after the restore reaches the second device (and only once).
  const subject = `after the restore ${Date.now()}`;
  await sendThroughGateway(ports.smtp, demo.address, demo.localPassword, { to: alice.address, subject, text: 'Both devices should show this once.' });
  const fresh = pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: imap2, ...asAlice2, SUBJECT: subject });
  assert.equal(fresh.count, 1);
  assert.match(fresh.raw!, /X-Sealmail-Encryption: decrypted/);
  assert.match(fresh.raw!, /X-Sealmail-Signature: valid; fpr=[0-9A-F]{40}/);
  const onFirst = pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: ports.imap, ...asAlice, SUBJECT: subject });
  assert.equal(onFirst.count, 1, 'the first device has it once too');

  // A flag set on the second device reaches the first.
  pythonImap(MARK_SEEN, { PORT: imap2, ...asAlice2, SUBJECT: subject });
  await eventually(
    '\\Seen from the second device on the first',
    () => pythonImap<FoundMessage>(IMAP_FIND_MESSAGE, { PORT: ports.imap, ...asAlice, SUBJECT: subject, WAIT: 1 }),
    (m) => m.flags?.includes('\\Seen') === true,
  );
  // And nothing was delivered twice in either INBOX.
  for (const [port, who] of [[ports.imap, asAlice], [imap2, asAlice2]] as const) {
    const inbox = pythonImap<{ INBOX: { count: number } }>(SURVEY, { PORT: port, ...who });
    assert.equal(inbox.INBOX.count, 1, 'one welcome message');
  }

  assert.equal(await second.stop(), 0);
  assert.equal(await first.stop(), 0);
});
