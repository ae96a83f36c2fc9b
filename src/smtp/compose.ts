// Turns one submitted message into one outgoing message per recipient:
// Bcc removed for everyone (a Bcc recipient is only in the envelope), our
// Autocrypt and OpenPGP headers added, then signed+encrypted to the
// recipient and the sender when a key is known, else signed only. The
// submission is read from the spool as streams: each copy is produced as it
// is written to the queue, never held whole.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  extractAddresses,
  headerValue,
  headerValues,
  makeField,
  parseContentType,
  parseHeader,
  serializeHeader,
  type HeaderField,
} from '../keymanager/mime.js';
import { crlfStream, preparePgpSource, splitHead, type KeyManager, type LookupResult } from '../keymanager/index.js';

/** What the gateway needs from an account's keymanager. */
export type GatewayKeys = Pick<
  KeyManager,
  'address' | 'lookup' | 'signStream' | 'encryptStream' | 'autocryptHeader' | 'gossipHeaders' | 'ownKey' | 'markUsed'
>;

/** The submitted bytes as they were received, readable as often as needed. */
export interface SubmittedMessage {
  open(): Readable;
  size: number;
}

export interface OutgoingCopy {
  to: string;
  encrypted: boolean;
  /** The copy's bytes, produced as they are read. */
  open(): AsyncIterable<Buffer>;
  /** The recipient key it is encrypted to (to mark as used once queued). */
  key?: { address: string; fingerprint: string };
}

export interface Prepared {
  messageId: string;
  /** The Subject field value as submitted (for bounces). */
  subject?: string;
  copies: OutgoingCopy[];
}

/** The header block of a submission (canonical CRLF); bodyOf: its body, opened again at each call. */
async function headOf(msg: SubmittedMessage): Promise<Buffer> {
  const stream = msg.open();
  try {
    return (await splitHead(crlfStream(stream))).header;
  } finally {
    stream.destroy();
  }
}

async function* bodyOf(msg: SubmittedMessage): AsyncGenerator<Buffer> {
  yield* (await splitHead(crlfStream(msg.open()))).body;
}

/** Adds Message-ID and Date when the client did not (RFC 5322 §3.6), drops Bcc, adds our headers. */
async function normalize(
  header: Buffer,
  keys: GatewayKeys,
  opts: { ownHeaders: boolean } = { ownHeaders: true },
): Promise<{ fields: HeaderField[]; messageId: string; visible: string[]; subject?: string }> {
  const replaced = opts.ownHeaders ? ['bcc', 'autocrypt', 'openpgp'] : ['bcc'];
  const fields = parseHeader(header).filter((f) => !replaced.includes(f.key));
  let messageId = headerValue(fields, 'message-id');
  if (!messageId) {
    messageId = `<${randomUUID()}@${keys.address.slice(keys.address.lastIndexOf('@') + 1)}>`;
    fields.push(makeField('Message-ID', messageId));
  }
  if (!headerValue(fields, 'date')) fields.push(makeField('Date', new Date().toUTCString().replace('GMT', '+0000')));
  const own = opts.ownHeaders ? await keys.ownKey() : null;
  if (own) fields.push(...parseHeader(`OpenPGP: id=${own.fingerprint}; preference=signencrypt\r\n` + (await keys.autocryptHeader())));
  const visible = extractAddresses([...headerValues(fields, 'to'), ...headerValues(fields, 'cc')]);
  return { fields, messageId, visible, subject: headerValue(fields, 'subject') };
}

/** 'encrypted' / 'signed' when the submitted message already is PGP/MIME (RFC 3156 §4, §5). */
function alreadyPgpMime(fields: HeaderField[]): 'encrypted' | 'signed' | null {
  const ct = parseContentType(headerValue(fields, 'content-type'));
  const protocol = (ct.params.protocol ?? '').toLowerCase();
  if (ct.mime === 'multipart/encrypted' && protocol === 'application/pgp-encrypted') return 'encrypted';
  if (ct.mime === 'multipart/signed' && protocol === 'application/pgp-signature') return 'signed';
  return null;
}

/**
 * Plans the per-recipient copies. `decisions` holds the lookup made at RCPT
 * time (so the decision the client was told about is the one applied).
 * Reads the submission once here (to plan the 7-bit re-encoding); each
 * copy's open() reads it again.
 */
export async function prepareOutgoing(
  msg: SubmittedMessage,
  recipients: string[],
  keys: GatewayKeys,
  decisions: Map<string, LookupResult>,
): Promise<Prepared> {
  const header = await headOf(msg);
  const passThrough = alreadyPgpMime(parseHeader(header));
  if (passThrough) {
    // The mail client did OpenPGP itself (e.g. Thunderbird's own): never wrap it again; only Bcc goes.
    const { fields, messageId } = await normalize(header, keys, { ownHeaders: false });
    const head = Buffer.from(serializeHeader(fields) + '\r\n', 'latin1');
    const open = async function* (): AsyncGenerator<Buffer> {
      yield head;
      yield* bodyOf(msg);
    };
    return { messageId, copies: recipients.map((to) => ({ to, open, encrypted: passThrough === 'encrypted' })) };
  }
  const { fields, messageId, visible, subject } = await normalize(header, keys);
  const source = await preparePgpSource(fields, () => bodyOf(msg), msg.size);
  const gossip = visible.length > 1 ? await keys.gossipHeaders(visible) : [];
  const copies: OutgoingCopy[] = [];
  for (const rcpt of recipients) {
    const decision = decisions.get(rcpt.toLowerCase()) ?? (await keys.lookup(rcpt));
    if (decision.found) {
      const { armored, address, fingerprint } = decision.key;
      copies.push({ to: rcpt, encrypted: true, open: () => keys.encryptStream(source, [armored], { gossip }), key: { address, fingerprint } });
    } else {
      copies.push({ to: rcpt, encrypted: false, open: () => keys.signStream(source) });
    }
  }
  return { messageId, subject, copies };
}
