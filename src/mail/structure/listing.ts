// The header fields clients list a folder with, and a message header's lines
// of those fields: kept with the structure (and in the summary cache) so that
// BODY.PEEK[HEADER.FIELDS (...)] of any of them needs no read of the message,
// as Dovecot keeps the fields asked for in its cache file. Thunderbird's set
// (From ... Reply-To, its default header listing) plus those other clients add.
import { filterHeader } from './sections.js';

export const LISTING_FIELDS: ReadonlySet<string> = new Set([
  'from', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'priority', 'x-priority', 'references', 'newsgroups',
  'in-reply-to', 'content-type', 'reply-to', 'sender', 'mime-version', 'importance', 'list-id', 'list-post',
  'disposition-notification-to', 'return-receipt-to', 'x-mailing-list',
]);

/** The lines of `header` whose field names are in LISTING_FIELDS (RFC 3501 6.4.5 HEADER.FIELDS rules, see filterHeader). */
export function listingHeader(header: Buffer): Buffer {
  return filterHeader(header, [...LISTING_FIELDS], false);
}
