// Token-tree builders for unit tests of the command-argument parsers.
import type { AtomToken, ListToken, StringToken, Token } from '../../../src/imap/wire/tokens.js';

export const atom = (value: string, extra: Partial<AtomToken> = {}): AtomToken => ({ type: 'atom', value, ...extra });
export const str = (value: string, form: StringToken['form'] = 'quoted'): StringToken => ({ type: 'string', value: Buffer.from(value), form });
export const list = (...items: Token[]): ListToken => ({ type: 'list', items });
/** Atoms for each space-separated word (no lists, no strings). */
export const words = (text: string): Token[] => text.split(' ').map((w) => atom(w));
