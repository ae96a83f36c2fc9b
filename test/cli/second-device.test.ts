// A second device through the real CLI: `sealmail account login` with its own
// config/data dirs and ports, against the first daemon's running embedded
// provider, restores alice's mailboxes (the welcome message, a folder of her
// own, the flags she set) and then sees new mail; flags set on the second
// device reach the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../support/ports.js';
import { cliEnv, IMAP_FIND_MESSAGE, pythonImap, readCliConfig, runCli, sendThroughGateway, startCli, type FoundMessage, type RunningDaemon } from '../support/cli.js';

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
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const daemons: RunningDaemon[] = [];
  t.after(async () => {
    for (const d of daemons) await d.stop();
  });
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
  await eventually(
    'first device pushed its changes',
    () => {
      const r = runCli(env, ['status', '--json']);
      return (r.status === 0 ? JSON.parse(r.stdout) : { error: r.stderr }) as { accounts?: Array<{ address: string; sync: { state: string; pending: number } }> };
    },
    (s) => s.accounts?.find((a) => a.address === alice.address)?.sync.state === 'idle' && s.accounts.every((a) => a.sync.pending === 0),
  );

  // The second device: its own config and data dirs, its own local ports.
  const [imap2, smtp2] = await freePorts(2);
  const env2: NodeJS.ProcessEnv = {
    ...env,
    SEALMAIL_CONFIG_DIR: join(home, 'device2/config'),
    SEALMAIL_DATA_DIR: join(home, 'device2/data'),
    SEALMAIL_IMAP_PORT: String(imap2),
    SEALMAIL_SMTP_PORT: String(smtp2),
  };
  const providerUrl = `http://${config.embeddedProvider.host}:${config.embeddedProvider.httpPort}/`;
  const wrong = join(home, 'wrong-passphrase');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(wrong, 'not-the-passphrase\n', { mode: 0o600 });
  const refused = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', wrong]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /^sealmail: /);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

  const login = runCli(env2, ['account', 'login', '--provider', providerUrl, alice.address, '--passphrase-file', alice.passphraseFile]);
  assert.equal(login.status, 0, login.stderr);
  assert.match(login.stdout, new RegExp(`restoring ${alice.address.replace('.', '\\.')}`));
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
