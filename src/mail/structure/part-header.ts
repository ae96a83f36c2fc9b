// Turns one MIME header block into the PartNode fields (RFC 2045 defaults,
// RFC 2183 disposition, RFC 3282 language, RFC 2557 location) and keeps the
// raw (still RFC 2231-encoded) parameters that BODYSTRUCTURE reports.
import libmime from 'libmime';
import iconv from 'iconv-lite';
import {
  firstField,
  parseContentType,
  parseDisposition,
  parseLanguage,
  simpleValue,
  type HeaderField,
  type RawParam,
} from './header.js';

export interface PartHeaderInfo {
  /** Lower-cased type/subtype (RFC 2045 defaults applied). */
  type: string;
  subtype: string;
  /** As written, for BODYSTRUCTURE. */
  rawType: string;
  rawSubtype: string;
  /** Raw params (as Dovecot reports them); null when the part has no Content-Type parameters at all. */
  rawParams: RawParam[];
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  /** Lower-cased Content-Transfer-Encoding ("7bit" by default). */
  encoding: string;
  /** As written, for BODYSTRUCTURE (Dovecot reports it verbatim). */
  rawEncoding: string;
  md5: string | null;
  disposition: { type: string; params: Record<string, string>; rawParams: RawParam[] } | null;
  language: string[] | null;
  location: string | null;
}

/** Decodes an RFC 2231 extended value charset'lang'%xx into text; best effort. */
function decode2231(value: string): string {
  const m = /^([^']*)'[^']*'(.*)$/s.exec(value);
  if (!m) return value;
  const bytes = Buffer.from(m[2]!.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  const charset = m[1] || 'us-ascii';
  try {
    if (iconv.encodingExists(charset)) return iconv.decode(bytes, charset);
  } catch {
    // fall through
  }
  return bytes.toString('latin1');
}

/** Binary (latin1) header text with 8-bit bytes read as UTF-8 where valid, RFC 2047 words decoded. */
export function decodeHeaderText(raw: string): string {
  const bytes = Buffer.from(raw, 'latin1');
  let text = bytes.toString('utf8');
  if (text.includes('\ufffd')) text = raw; // not UTF-8: keep latin1
  try {
    return libmime.decodeWords(text);
  } catch {
    return text;
  }
}

function decodedParams(raw: RawParam[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of raw) {
    const name = p.name.toLowerCase();
    if (name.endsWith('*')) out[name.slice(0, -1)] = decode2231(p.value);
    else out[name] = decodeHeaderText(p.value);
  }
  return out;
}

/** The type Dovecot reports for an invalid, non-empty Content-Type, or null when it is empty. */
function bareType(value: string | null): string | null {
  if (value === null || value.trim() === '') return null;
  const m = /^\s*([^\s;/()<>@,:\\"[\]?=]+)\s*$/.exec(value);
  return m ? m[1]! : '';
}

/** The MIME information of one part header; `digestChild` selects the multipart/digest default. */
export function partHeaderInfo(fields: HeaderField[], digestChild: boolean): PartHeaderInfo {
  const ctValue = firstField(fields, 'content-type');
  const ct = parseContentType(ctValue);
  let type: string;
  let subtype: string;
  let rawParams: RawParam[];
  const bare = ct ? null : bareType(ctValue);
  if (bare !== null) {
    // An unparseable Content-Type: Dovecot reports a lone token as the type
    // with an empty subtype, anything else as "" "" (and no parameters).
    type = bare;
    subtype = '';
    rawParams = [];
  } else if (ct) {
    type = ct.type;
    subtype = ct.subtype;
    rawParams = ct.params;
  } else if (digestChild) {
    type = 'message';
    subtype = 'rfc822';
    rawParams = [];
  } else {
    type = 'text';
    subtype = 'plain';
    rawParams = [];
  }
  // RFC 2045 5.2: text without a charset is us-ascii; Dovecot reports it explicitly.
  const rawType = type;
  const rawSubtype = subtype;
  type = type.toLowerCase();
  subtype = subtype.toLowerCase();
  if (type === 'text' && subtype !== '' && !rawParams.some((p) => /^charset\*?$/i.test(p.name))) {
    rawParams = [...rawParams, { name: 'charset', value: 'us-ascii' }];
  }
  const dispo = parseDisposition(firstField(fields, 'content-disposition'));
  const encoding = simpleValue(firstField(fields, 'content-transfer-encoding'));
  return {
    type,
    subtype,
    rawType,
    rawSubtype,
    rawParams,
    params: decodedParams(rawParams),
    id: firstField(fields, 'content-id'),
    description: firstField(fields, 'content-description'),
    encoding: encoding === null || encoding === '' ? '7bit' : encoding.toLowerCase(),
    rawEncoding: encoding === null || encoding === '' ? '7bit' : encoding,
    md5: firstField(fields, 'content-md5'),
    disposition: dispo ? { type: dispo.type, params: decodedParams(dispo.params), rawParams: dispo.params } : null,
    language: parseLanguage(firstField(fields, 'content-language')),
    location: firstField(fields, 'content-location'),
  };
}
