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
  type: string;
  subtype: string;
  /** Raw params (as Dovecot reports them); null when the part has no Content-Type parameters at all. */
  rawParams: RawParam[];
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  encoding: string;
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
    if (p.name.endsWith('*')) out[p.name.slice(0, -1)] = decode2231(p.value);
    else out[p.name] = decodeHeaderText(p.value);
  }
  return out;
}

/** The MIME information of one part header; `digestChild` selects the multipart/digest default. */
export function partHeaderInfo(fields: HeaderField[], digestChild: boolean): PartHeaderInfo {
  const ct = parseContentType(firstField(fields, 'content-type'));
  let type: string;
  let subtype: string;
  let rawParams: RawParam[];
  if (ct) {
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
  if (type === 'text' && !rawParams.some((p) => p.name === 'charset' || p.name === 'charset*')) {
    rawParams = [{ name: 'charset', value: 'us-ascii' }, ...rawParams];
  }
  const dispo = parseDisposition(firstField(fields, 'content-disposition'));
  const encoding = simpleValue(firstField(fields, 'content-transfer-encoding'));
  return {
    type,
    subtype,
    rawParams,
    params: decodedParams(rawParams),
    id: firstField(fields, 'content-id'),
    description: firstField(fields, 'content-description'),
    encoding: encoding === null || encoding === '' ? '7bit' : encoding.toLowerCase(),
    md5: firstField(fields, 'content-md5'),
    disposition: dispo ? { type: dispo.type, params: decodedParams(dispo.params), rawParams: dispo.params } : null,
    language: parseLanguage(firstField(fields, 'content-language')),
    location: firstField(fields, 'content-location'),
  };
}
