// Small helpers shared by command parsers: argument counts and typed reads of
// tokens (RFC 3501 9: astring, atom, list, number).
import { bad } from '../errors.js';
import { tokenText, type ListToken, type Token } from '../wire/tokens.js';

export function expectCount(args: Token[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw bad(`Wrong number of arguments; usage: ${usage}`);
}

/** astring (atom, quoted or literal) as UTF-8 text. */
export function astring(token: Token | undefined, what: string): string {
  const text = tokenText(token);
  if (text === null) throw bad(`Expected ${what}`);
  return text;
}

export function atomValue(token: Token | undefined, what: string): string {
  if (!token || token.type !== 'atom' || token.section) throw bad(`Expected ${what}`);
  return token.value;
}

export function listItems(token: Token | undefined, what: string): Token[] {
  if (!token || token.type !== 'list') throw bad(`Expected ${what} list`);
  return (token as ListToken).items;
}

export function isList(token: Token | undefined): token is ListToken {
  return token?.type === 'list';
}

/** nz-number / number (RFC 3501 9), up to 2^63 as the modseq grammar allows. */
export function numberValue(token: Token | undefined, what: string): number {
  const text = atomValue(token, what);
  if (!/^\d{1,19}$/.test(text)) throw bad(`Expected a number for ${what}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw bad(`${what} is too large`);
  return n;
}

export function noArgs(args: Token[], name: string): void {
  if (args.length > 0) throw bad(`${name} takes no arguments`);
}
