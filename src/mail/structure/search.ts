// The decoded header values SEARCH needs (RFC 3501 6.4.4): addresses and
// subject with RFC 2047 encoded words decoded in any charset (libmime uses
// iconv-lite), the Date: header parsed, and the names of all header fields.
import { parseAddressList, MISSING_DOMAIN, MISSING_MAILBOX } from './address.js';
import { firstField, type HeaderField } from './header.js';
import { decodeHeaderText } from './part-header.js';
import type { SearchFields } from './types.js';

/** "Name <local@host>, ..." with names decoded; groups are flattened to their members. */
export function decodeAddresses(value: string | null): string {
  if (value === null) return '';
  const parts: string[] = [];
  for (const a of parseAddressList(value)) {
    if (a.host === null) continue; // group markers
    const addr = a.mailbox === MISSING_MAILBOX ? '' : a.host === MISSING_DOMAIN ? (a.mailbox ?? '') : `${a.mailbox}@${a.host}`;
    const name = a.name ? decodeHeaderText(a.name) : '';
    if (!name && !addr) continue; // "<>"
    parts.push(name && addr ? `${name} <${addr}>` : name || addr);
  }
  return parts.join(', ');
}

/** RFC 5322 3.3 date-time (comments and obsolete zones tolerated) as epoch ms, or null. */
export function parseDate(value: string | null): number | null {
  if (value === null) return null;
  const cleaned = value
    .replace(/\([^)]*\)/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const t = Date.parse(cleaned);
  if (!Number.isNaN(t)) return t;
  // "26 Nov 2026 10:00:00 +0000" without weekday or with a bad one
  const m = /(\d{1,2})\s+([A-Za-z]{3})\w*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Z]{1,5})?/.exec(cleaned);
  if (!m) return null;
  let year = Number(m[3]);
  if (year < 50) year += 2000;
  else if (year < 1000) year += 1900;
  const t2 = Date.parse(`${m[1]} ${m[2]} ${year} ${m[4]}:${m[5]}:${m[6] ?? '00'} ${m[7] ?? '+0000'}`);
  return Number.isNaN(t2) ? null : t2;
}

export function searchFields(fields: HeaderField[]): SearchFields {
  const subject = firstField(fields, 'subject');
  const messageId = firstField(fields, 'message-id');
  const names = new Set<string>();
  for (const f of fields) names.add(f.name.toLowerCase());
  return {
    from: decodeAddresses(firstField(fields, 'from')),
    to: decodeAddresses(firstField(fields, 'to')),
    cc: decodeAddresses(firstField(fields, 'cc')),
    bcc: decodeAddresses(firstField(fields, 'bcc')),
    subject: subject === null ? '' : decodeHeaderText(subject.replace(/\r?\n/g, '')),
    sentDate: parseDate(firstField(fields, 'date')),
    messageId: messageId === null ? null : messageId.trim(),
    headerNames: [...names],
  };
}
