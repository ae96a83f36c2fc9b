// Turns one submitted message into one outgoing message per recipient:
// Bcc removed for everyone (a Bcc recipient is only in the envelope), our
// Autocrypt and OpenPGP headers added, then signed+encrypted to the
// recipient and the sender when a key is known, else signed only.
import { randomUUID } from 'node:crypto';
import {
  extractAddresses,
  headerValue,
  headerValues,
  makeField,
  parseContentType,
  parseHeader,
  serializeHeader,
  splitEntity,
  toCRLF,
} from '../keymanager/mime.js';
import type { KeyManager, LookupResult } from '../keymanager/index.js';

/** What the gateway needs from an account's keymanager. */
export type GatewayKeys = Pick<
  KeyManager,
  'address' | 'lookup' | 'sign' | 'encrypt' | 'autocryptHeader' | 'gossipHeaders' | 'ownKey' | 'markUsed'
>;

export interface OutgoingCopy {
  to: string;
  raw: Buffer;
  encrypted: boolean;
}

export interface Prepared {
  messageId: string;
  /** The Subject field value as submitted (for bounces). */
  subject?: string;
  copies: OutgoingCopy[];
}

/** Adds Message-ID and Date when the client did not (RFC 5322 §3.6), drops Bcc, adds our headers. */
async function normalize(
  raw: Buffer,
  keys: GatewayKeys,
  opts: { ownHeaders: boolean } = { ownHeaders: true },
): Promise<{ message: Buffer; messageId: string; visible: string[]; subject?: string }> {
  const canonical = toCRLF(raw);
  const { header, body } = splitEntity(canonical);
  const replaced = opts.ownHeaders ? ['bcc', 'autocrypt', 'openpgp'] : ['bcc'];
  const fields = parseHeader(header).filter((f) => !replaced.includes(f.key));
  let messageId = headerValue(fields, 'message-id');
  if (!messageId) {
    messageId = `<${randomUUID()}@${keys.address.slice(keys.address.lastIndexOf('@') + 1)}>`;
    fields.push(makeField('Message-ID', messageId));
  }
  if (!headerValue(fields, 'date')) fields.push(makeField('Date', new Date().toUTCString().replace('GMT', '+0000')));
  const own = opts.ownHeaders ? await keys.ownKey() : null;
  let head = serializeHeader(fields);
  if (own) head += `OpenPGP: id=${own.fingerprint}; preference=signencrypt\r\n` + (await keys.autocryptHeader());
  const visible = extractAddresses([...headerValues(fields, 'to'), ...headerValues(fields, 'cc')]);
  return { message: Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]), messageId, visible, subject: headerValue(fields, 'subject') };
}

/** 'encrypted' / 'signed' when the submitted message already is PGP/MIME (RFC 3156 §4, §5). */
function alreadyPgpMime(raw: Buffer): 'encrypted' | 'signed' | null {
  const { header } = splitEntity(toCRLF(raw));
  const ct = parseContentType(headerValue(parseHeader(header), 'content-type'));
  const protocol = (ct.params.protocol ?? '').toLowerCase();
  if (ct.mime === 'multipart/encrypted' && protocol === 'application/pgp-encrypted') return 'encrypted';
  if (ct.mime === 'multipart/signed' && protocol === 'application/pgp-signature') return 'signed';
  return null;
}

/**
 * Builds the per-recipient copies. `decisions` holds the lookup made at RCPT
 * time (so the decision the client was told about is the one applied).
 */
export async function prepareOutgoing(
  raw: Buffer,
  recipients: string[],
  keys: GatewayKeys,
  decisions: Map<string, LookupResult>,
): Promise<Prepared> {
  const passThrough = alreadyPgpMime(raw);
  if (passThrough) {
    // The mail client did OpenPGP itself (e.g. Thunderbird's own): never wrap it again; only Bcc goes.
    const { message, messageId } = await normalize(raw, keys, { ownHeaders: false });
    return { messageId, copies: recipients.map((to) => ({ to, raw: message, encrypted: passThrough === 'encrypted' })) };
  }
  const { message, messageId, visible, subject } = await normalize(raw, keys);
  const gossip = visible.length > 1 ? await keys.gossipHeaders(visible) : [];
  let signedOnly: Buffer | null = null;
  const copies: OutgoingCopy[] = [];
  for (const rcpt of recipients) {
    const decision = decisions.get(rcpt.toLowerCase()) ?? (await keys.lookup(rcpt));
    if (decision.found) {
      const out = await keys.encrypt(message, [decision.key.armored], { gossip });
      await keys.markUsed(decision.key.address, decision.key.fingerprint);
      copies.push({ to: rcpt, raw: out, encrypted: true });
    } else {
      signedOnly ??= await keys.sign(message);
      copies.push({ to: rcpt, raw: signedOnly, encrypted: false });
    }
  }
  return { messageId, subject, copies };
}
