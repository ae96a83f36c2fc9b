// Pre-rendering of ENVELOPE, BODYSTRUCTURE and BODY (RFC 3501 7.4.2, 9),
// once at store time, in the form Dovecot produces.
import { parseAddressList, type ImapAddress } from './address.js';
import type { HeaderField, RawParam } from './header.js';
import { imapHumanString, imapNString, imapString } from './imap-string.js';
import type { SplitExtras } from './splitter.js';
import type { PartNode } from './types.js';

/** All addresses of every field with this name (Dovecot concatenates repeated fields). */
function addressList(fields: HeaderField[], name: string): ImapAddress[] | null {
  const lower = name.toLowerCase();
  let list: ImapAddress[] | null = null;
  for (const f of fields) {
    if (f.name.toLowerCase() !== lower) continue;
    const parsed = parseAddressList(f.value);
    if (parsed.length) (list ??= []).push(...parsed);
  }
  return list;
}

/** The last field with this name: a repeated Subject/Date/Message-ID overrides (as Dovecot does). */
function lastField(fields: HeaderField[], name: string): HeaderField | null {
  const lower = name.toLowerCase();
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i]!.name.toLowerCase() === lower) return fields[i]!;
  return null;
}

function renderAddresses(list: ImapAddress[] | null): string {
  if (!list) return 'NIL';
  return (
    '(' +
    list
      .map((a) => `(${a.name === null ? 'NIL' : imapHumanString(a.name)} ${imapNString(a.adl)} ${imapNString(a.mailbox)} ${imapNString(a.host)})`)
      .join('') +
    ')'
  );
}

/** ENVELOPE of a message header (RFC 3501 7.4.2): Sender and Reply-To default to From. */
export function renderEnvelope(fields: HeaderField[]): string {
  const from = addressList(fields, 'from');
  const sender = addressList(fields, 'sender') ?? from;
  const replyTo = addressList(fields, 'reply-to') ?? from;
  const str = (name: string) => imapNString(lastField(fields, name)?.value);
  const subject = lastField(fields, 'subject');
  return (
    '(' +
    [
      str('date'),
      subject === null ? 'NIL' : imapHumanString(subject.folded),
      renderAddresses(from),
      renderAddresses(sender),
      renderAddresses(replyTo),
      renderAddresses(addressList(fields, 'to')),
      renderAddresses(addressList(fields, 'cc')),
      renderAddresses(addressList(fields, 'bcc')),
      str('in-reply-to'),
      str('message-id'),
    ].join(' ') +
    ')'
  );
}

function renderParams(params: RawParam[]): string {
  if (params.length === 0) return 'NIL';
  return '(' + params.map((p) => `${imapString(p.name)} ${imapString(p.value)}`).join(' ') + ')';
}

function renderExtension(n: PartNode, extras: SplitExtras): string {
  const info = extras.info.get(n);
  const d = info?.disposition;
  const dispo = d ? `(${imapString(d.type)} ${renderParams(d.rawParams)})` : 'NIL';
  const lang = n.language ? '(' + n.language.map(imapString).join(' ') + ')' : 'NIL';
  return `${dispo} ${lang} ${imapNString(n.location)}`;
}

/**
 * A message whose only part is plain 7bit us-ascii text with no other MIME
 * data. Dovecot flags such messages in its index and then writes the default
 * text/plain structure (lower-case) whatever the case of the header was.
 */
function isPlain7bit(n: PartNode, extras: SplitExtras): boolean {
  const info = extras.info.get(n);
  if (!info || n.type !== 'text' || n.subtype !== 'plain' || n.children || n.message) return false;
  const params = info.rawParams;
  if (params.length > 1) return false;
  if (params.length === 1 && (params[0]!.name.toLowerCase() !== 'charset' || params[0]!.value.toLowerCase() !== 'us-ascii')) return false;
  return n.id === null && n.description === null && info.encoding === '7bit' && n.md5 === null && n.disposition === null && n.language === null && n.location === null;
}

/** BODYSTRUCTURE (extended) or BODY (basic) of the root of a message. */
export function renderRootBody(root: PartNode, extras: SplitExtras, extended: boolean): string {
  if (isPlain7bit(root, extras)) {
    const size = root.bodyEnd - root.bodyStart;
    return `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ${size} ${root.lines ?? 0}${extended ? ' NIL NIL NIL NIL' : ''})`;
  }
  return renderBody(root, extras, extended);
}

/** BODYSTRUCTURE (extended) or BODY (basic) of a node. */
export function renderBody(n: PartNode, extras: SplitExtras, extended: boolean): string {
  const info = extras.info.get(n);
  const rawParams = info?.rawParams ?? [];
  if (n.type === 'multipart') {
    const children = n.children?.length
      ? n.children.map((c) => renderBody(c, extras, extended)).join('')
      : // a multipart with no parts at all: IMAP needs one, report an empty text/plain
        emptyTextPart(extended);
    const ext = extended ? ` ${renderParams(rawParams)} ${renderExtension(n, extras)}` : '';
    return `(${children} ${imapString(info?.rawSubtype ?? n.subtype)}${ext})`;
  }
  const size = n.bodyEnd - n.bodyStart;
  let out = `(${imapString(info?.rawType ?? n.type)} ${imapString(info?.rawSubtype ?? n.subtype)} ${renderParams(rawParams)} ${imapNString(n.id)} ${imapNString(n.description)} ${imapString(info?.rawEncoding ?? n.encoding)} ${size}`;
  if (n.type === 'message' && n.subtype === 'rfc822') {
    if (n.message) {
      const fields = extras.messageFields.get(n.message) ?? [];
      out += ` ${renderEnvelope(fields)} ${renderBody(n.message, extras, extended)} ${n.lines ?? 0}`;
    } else {
      // a message/rfc822 part cut off before any byte: an empty message, as Dovecot reports it
      out += ` ${renderEnvelope([])} ${emptyTextPart(extended)} 0`;
    }
  } else if (n.type === 'text') {
    out += ` ${n.lines ?? 0}`;
  }
  if (extended) out += ` ${imapNString(n.md5)} ${renderExtension(n, extras)}`;
  return out + ')';
}

function emptyTextPart(extended: boolean): string {
  return `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0${extended ? ' NIL NIL NIL NIL' : ''})`;
}
