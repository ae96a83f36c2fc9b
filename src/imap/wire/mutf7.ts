// Modified UTF-7 for mailbox names (RFC 3501 5.1.3): printable US-ASCII stands
// for itself except "&", which is written "&-"; other characters are UTF-16
// encoded in modified base64 (",' instead of "/", no padding) between "&" and "-".
import { bad } from '../errors.js';

const isPrintableAscii = (code: number): boolean => code >= 0x20 && code <= 0x7e;

export function encodeMutf7(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (isPrintableAscii(unit)) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

/** Decodes a modified UTF-7 name; throws BAD on malformed input. */
export function decodeMutf7(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    const code = name.charCodeAt(i);
    if (!isPrintableAscii(code)) throw bad('Mailbox name is not valid modified UTF-7');
    if (ch !== '&') {
      out += ch;
      continue;
    }
    const end = name.indexOf('-', i + 1);
    if (end < 0) throw bad('Unterminated modified UTF-7 sequence in mailbox name');
    const b64 = name.slice(i + 1, end);
    i = end;
    if (b64 === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) throw bad('Invalid modified base64 in mailbox name');
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0 || bytes.length === 0) throw bad('Invalid modified UTF-7 in mailbox name');
    let decoded = '';
    for (let j = 0; j < bytes.length; j += 2) decoded += String.fromCharCode(bytes.readUInt16BE(j));
    // A shift sequence must not encode printable ASCII (RFC 3501 5.1.3: "must be represented by itself").
    if ([...decoded].some((c) => isPrintableAscii(c.charCodeAt(0)))) throw bad('Non-canonical modified UTF-7 in mailbox name');
    out += decoded;
  }
  return out;
}
