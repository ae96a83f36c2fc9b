// Mail to import in the `sealmail import` CLI tests: generated messages
// (one with "From " lines in its body, one with broken MIME, one CRLF and
// 8-bit) written as an mboxrd file with From_ line dates an hour apart, and
// an imapflow reader of what arrived.
import { ImapFlow } from 'imapflow';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime, as in a From_ line: "Mon Jan  5 09:03:07 2015" (UTC). */
function asctime(t: number): string {
  const d = new Date(t);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

export function message(i: number): Buffer {
  const head = `From: sender${i}@example.org\nTo: alice\nSubject: imported ${i}\nMessage-ID: <import-${i}@example.org>\nX-Import-Test: ${i}\n`;
  if (i === 7) return Buffer.from(`${head}\nFrom the start of a line\n>From a quoted line\n\nFrom after an empty line\n`);
  if (i === 13) {
    // Broken MIME: no closing boundary, invalid base64, an unterminated nested message.
    return Buffer.from(`${head}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="zzz"\n\n--zzz\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!! not base64 !!!\n--zzz\nContent-Type: message/rfc822\n\nSubject: nested\n`);
  }
  if (i === 21) return Buffer.concat([Buffer.from(`${head}Content-Type: text/plain; charset=iso-8859-1\n\ncaf`.replace(/\n/g, '\r\n')), Buffer.from([0xe9, 0x0d, 0x0a])]);
  return Buffer.from(`${head}\nbody of message ${i}\n${'line\n'.repeat(i % 17)}`);
}

export const BASE = Date.UTC(2015, 0, 5, 9, 3, 7);

/** mboxrd, as a mail client writes it. */
export function mbox(n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(Buffer.from(`From sender${i}@example.org ${asctime(BASE + i * 3_600_000)}\n`));
    parts.push(Buffer.from(message(i).toString('latin1').replace(/^(>*From )/gm, '>$1'), 'latin1'), Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

export interface Seen {
  uid: number;
  raw: Buffer;
  flags: string[];
  internalDate: number;
}

export async function imapClient(port: number, user: string, pass: string): Promise<ImapFlow> {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false, tls: { rejectUnauthorized: false } });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Logs in over IMAP with an account's address and local password and checks INBOX answers STATUS. */
export async function assertImapLogin(port: number, account: { address: string; localPassword: string }): Promise<void> {
  const c = await imapClient(port, account.address, account.localPassword);
  try {
    if (!(await c.status('INBOX', { messages: true }))) throw new Error(`${account.address}: no STATUS for INBOX`);
  } finally {
    await c.logout();
  }
}

/** Every message of a mailbox carrying X-Import-Test, by that number. */
export async function imported(c: ImapFlow, mailbox: string): Promise<Map<string, Seen[]>> {
  const out = new Map<string, Seen[]>();
  const lock = await c.getMailboxLock(mailbox);
  try {
    for await (const m of c.fetch('1:*', { uid: true, source: true, flags: true, internalDate: true })) {
      const id = /^X-Import-Test: (.+?)\r?$/m.exec(m.source!.toString('latin1'))?.[1];
      if (id === undefined) continue;
      const seen = { uid: m.uid, raw: m.source!, flags: [...(m.flags ?? [])].sort(), internalDate: new Date(m.internalDate!).getTime() };
      out.set(id, [...(out.get(id) ?? []), seen]);
    }
  } finally {
    lock.release();
  }
  return out;
}
