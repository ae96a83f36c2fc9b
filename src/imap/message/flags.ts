// Flag arguments of STORE (and APPEND): system flags (RFC 3501 2.3.2) in their
// canonical spelling, keywords as given. \Recent cannot be stored and other
// backslash flags do not exist, so both are BAD.
import { bad } from '../errors.js';
import type { Token } from '../wire/tokens.js';

export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'];
const CANONICAL = new Map(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));
/** atom-specials excluded from a flag-keyword (RFC 3501 9), plus "]" (resp-specials). */
const KEYWORD = /^[^(){ %*"\\\]\x00-\x1f\x7f-\uffff]+$/;

export function parseFlag(text: string): string {
  if (text.startsWith('\\')) {
    const flag = CANONICAL.get(text.toLowerCase());
    if (!flag) throw bad(`Invalid system flag: ${text}`);
    return flag;
  }
  if (!KEYWORD.test(text)) throw bad(`Invalid keyword: ${text}`);
  return text;
}

/** Flags from atom tokens, de-duplicated case-insensitively, in the order given. */
export function parseFlagList(tokens: Token[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.type !== 'atom' || t.section !== undefined) throw bad('Invalid flag');
    const flag = parseFlag(t.value);
    if (!seen.has(flag.toLowerCase())) {
      seen.add(flag.toLowerCase());
      out.push(flag);
    }
  }
  return out;
}
