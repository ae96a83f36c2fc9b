// The readable notice put in the INBOX when an incoming message cannot be
// decrypted: the user sees that something arrived, why it could not be read,
// and gets the encrypted original attached (armored) to try elsewhere.
import { createHash } from 'node:crypto';
import type { IncomingDoc } from '../soledad/types.js';

export async function undecryptableNotice(doc: IncomingDoc, reason: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await doc.open()) chunks.push(Buffer.from(chunk));
  const blob = Buffer.concat(chunks);
  // Deterministic bytes (boundary and date derive from the doc): a retry after
  // a crash produces the same message, which the store then dedupes.
  const boundary = `sealmail-${createHash('sha256').update(doc.id).digest('hex').slice(0, 24)}`;
  const received = Date.parse(doc.receivedAt);
  const date = new Date(Number.isNaN(received) ? 0 : received).toUTCString().replace('GMT', '+0000');
  const text = [
    'sealmail received a message for you that it could not decrypt.',
    '',
    `Received: ${doc.receivedAt}`,
    `Reason: ${reason.replace(/[\r\n]+/g, ' ')}`,
    '',
    'The encrypted original is attached and kept; sealmail will try again',
    'when your keys change and at the next start.',
  ].join('\r\n');
  const base64 = blob.toString('base64').replace(/.{76}/g, '$&\r\n');
  const parts = [
    'From: sealmail <mailer-daemon@localhost>',
    'Subject: A message could not be decrypted',
    `Date: ${date}`,
    `Message-ID: <undecryptable.${doc.id}@sealmail.localhost>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    text,
    `--${boundary}`,
    'Content-Type: application/pgp-encrypted; name="message.pgp"',
    'Content-Disposition: attachment; filename="message.pgp"',
    'Content-Transfer-Encoding: base64',
    '',
    base64,
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(parts.join('\r\n'), 'utf8');
}
