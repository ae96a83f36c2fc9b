// Response builders (RFC 3501 7): untagged data, status responses (tagged or
// untagged OK/NO/BAD/BYE/PREAUTH with optional response code) and continuation
// requests. Handlers build these; the ResponseWriter serializes and sends them.
import { PieceBuilder, cleanText, type ImapValue, type Piece, type ResponseCode, type SerializeOptions } from './values.js';

export type StatusName = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

export type Response =
  | { type: 'untagged'; values: ImapValue[] }
  | { type: 'status'; tag: string; status: StatusName; code?: ResponseCode; text: string }
  | { type: 'continue'; text: string };

/** `* <values...>`, e.g. untagged(num(3), atom('EXISTS')). */
export function untagged(...values: ImapValue[]): Response {
  return { type: 'untagged', values };
}

/** `<tag> OK|NO|BAD [CODE] text`. */
export function tagged(tag: string, status: 'OK' | 'NO' | 'BAD', text: string, code?: ResponseCode): Response {
  return { type: 'status', tag, status, code, text };
}

/** `* OK|NO|BAD|BYE|PREAUTH [CODE] text`. */
export function untaggedStatus(status: StatusName, text: string, code?: ResponseCode): Response {
  return { type: 'status', tag: '*', status, code, text };
}

/** `+ text` (RFC 3501 7.5). */
export function continuation(text: string): Response {
  return { type: 'continue', text };
}

export function serialize(response: Response, opts: SerializeOptions): Piece[] {
  const b = new PieceBuilder(opts);
  switch (response.type) {
    case 'untagged':
      b.push('* ');
      b.values(response.values);
      break;
    case 'status':
      b.push(`${response.tag} ${response.status} `);
      b.code(response.code);
      b.push(cleanText(response.text));
      break;
    case 'continue':
      b.push(`+ ${cleanText(response.text)}`);
      break;
  }
  return b.finish();
}
