// The readable notice put in the INBOX when an incoming message cannot be
// decrypted: the user sees that something arrived, why it could not be read,
// and gets the encrypted original attached (ASCII-armored) to try elsewhere.
import { createHash } from 'node:crypto';
import type { IncomingDoc } from '../soledad/types.js';

/** CRC-24 of the armor checksum line (RFC 4880 6.1). */
function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** The blob as ASCII armor (RFC 4880 6.2), so it can be saved and fed to `gpg --decrypt`; armored input is kept as is. */
export function armorMessage(blob: Buffer): string {
  const head = blob.subarray(0, 64).toString('latin1');
  const printable = /^[\t\r\n\x20-\x7e]*$/.test(blob.toString('latin1'));
  if (printable && head.trimStart().startsWith('-----BEGIN PGP')) return blob.toString('latin1').replace(/\r?\n/g, '\r\n');
  const sum = Buffer.alloc(3);
  sum.writeUIntBE(crc24(blob), 0, 3);
  const body = blob.toString('base64').replace(/.{64}/g, '$&\r\n').replace(/\r\n$/, '');
  return `-----BEGIN PGP MESSAGE-----\r\n\r\n${body}\r\n=${sum.toString('base64')}\r\n-----END PGP MESSAGE-----\r\n`;
}

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
    'Content-Type: application/octet-stream; name="message.asc"',
    'Content-Disposition: attachment; filename="message.asc"',
    'Content-Transfer-Encoding: 7bit',
    '',
    armorMessage(blob).replace(/\r\n$/, ''),
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(parts.join('\r\n'), 'utf8');
}
