// SEARCH criteria (RFC 3501 6.4.4, 9 search-key; RFC 7162 3.1.5 MODSEQ):
// parsing the token list into a tree of keys. Evaluation: search-eval.ts.
import type { Token } from '../wire/tokens.js';
import { ImapError, bad } from '../errors.js';
import { isSequenceSet, parseSequenceSet, type SequenceSet } from './sequence-set.js';

export type DateField = 'internal' | 'sent';
export type DateCompare = 'before' | 'on' | 'since';
/** Decoded header fields SEARCH has pre-computed in the structure document. */
export type IndexedHeader = 'from' | 'to' | 'cc' | 'bcc' | 'subject';

export type SearchKey =
  | { op: 'all' }
  | { op: 'flag'; flag: string; set: boolean }
  | { op: 'recent'; set: boolean }
  | { op: 'seq'; set: SequenceSet }
  | { op: 'uid'; set: SequenceSet }
  | { op: 'address'; field: IndexedHeader; value: string }
  /** HEADER field-name string (lower-cased name). */
  | { op: 'header'; name: string; value: string }
  | { op: 'body'; value: string }
  | { op: 'text'; value: string }
  /** `day` is the UTC midnight of the date, epoch ms. */
  | { op: 'date'; field: DateField; cmp: DateCompare; day: number }
  | { op: 'size'; cmp: 'larger' | 'smaller'; size: number }
  | { op: 'modseq'; modseq: number }
  | { op: 'not'; key: SearchKey }
  | { op: 'or'; a: SearchKey; b: SearchKey }
  | { op: 'and'; keys: SearchKey[] };

export interface SearchRequest {
  key: SearchKey;
  /** RFC 4731 ESEARCH RETURN options; null for a plain SEARCH response. */
  returns: Array<'MIN' | 'MAX' | 'COUNT' | 'ALL'> | null;
  /** The request uses MODSEQ, so the response carries (MODSEQ n) (RFC 7162 3.1.5). */
  usesModseq: boolean;
}

export const SUPPORTED_CHARSETS = ['UTF-8', 'US-ASCII'];
/** Nesting limit for parenthesised lists and NOT/OR chains: a guard against stack exhaustion. */
export const MAX_SEARCH_DEPTH = 64;

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const DATE_KEYS: Record<string, [DateField, DateCompare]> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
};

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** RFC 3501 9 date: 1*2DIGIT "-" date-month "-" 4DIGIT, optionally quoted. */
export function parseSearchDate(text: string): number {
  const m = /^([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2]!.toUpperCase()) : -1;
  if (!m || month < 0) throw bad(`Invalid date: ${text}`);
  const day = Number(m[1]);
  const time = Date.UTC(Number(m[3]), month, day);
  if (day < 1 || new Date(time).getUTCDate() !== day) throw bad(`Invalid date: ${text}`);
  return time;
}

class Cursor {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}
  get done(): boolean {
    return this.i >= this.tokens.length;
  }
  peek(): Token | undefined {
    return this.tokens[this.i];
  }
  next(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw bad(`Missing ${what}`);
    return t;
  }
  /** An astring argument, decoded as UTF-8 (the only non-ASCII charset accepted). */
  string(what: string): string {
    const t = this.next(what);
    if (t.type === 'list' || (t.type === 'atom' && t.section !== undefined)) throw bad(`Invalid ${what}`);
    return t.type === 'atom' ? t.value : t.value.toString('utf8');
  }
  atom(what: string): string {
    const t = this.next(what);
    if (t.type !== 'atom' || t.section !== undefined) throw bad(`Invalid ${what}`);
    return t.value;
  }
  number(what: string): number {
    const text = this.atom(what);
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) throw bad(`Invalid ${what}`);
    return Number(text);
  }
}

/**
 * Parses SEARCH arguments: [RETURN (...)] [CHARSET name] key+ (RFC 3501 6.4.4,
 * RFC 4731 3). `esearch` says whether RETURN is allowed (ESEARCH advertised).
 */
export function parseSearchRequest(args: Token[], opts: { esearch: boolean } = { esearch: false }): SearchRequest {
  const cur = new Cursor(args);
  let returns: SearchRequest['returns'] = null;
  const first = cur.peek();
  if (opts.esearch && first?.type === 'atom' && first.value.toUpperCase() === 'RETURN') {
    cur.next('RETURN');
    returns = parseReturn(cur.next('RETURN options'));
  }
  const maybeCharset = cur.peek();
  if (maybeCharset?.type === 'atom' && maybeCharset.value.toUpperCase() === 'CHARSET') {
    cur.next('CHARSET');
    const charset = cur.string('charset').toUpperCase();
    if (!SUPPORTED_CHARSETS.includes(charset)) {
      throw new ImapError('NO', `Unsupported charset: ${charset}`, 'BADCHARSET', `(${SUPPORTED_CHARSETS.join(' ')})`);
    }
  }
  const state = { usesModseq: false };
  const keys: SearchKey[] = [];
  if (cur.done) throw bad('Missing search criteria');
  while (!cur.done) keys.push(parseKey(cur, 0, state));
  return { key: and(keys), returns, usesModseq: state.usesModseq };
}

function parseReturn(token: Token): NonNullable<SearchRequest['returns']> {
  if (token.type !== 'list') throw bad('Invalid RETURN options');
  const out: NonNullable<SearchRequest['returns']> = [];
  for (const t of token.items) {
    const name = t.type === 'atom' ? t.value.toUpperCase() : '';
    if (name !== 'MIN' && name !== 'MAX' && name !== 'COUNT' && name !== 'ALL') throw bad(`Unknown RETURN option: ${name}`);
    if (!out.includes(name)) out.push(name);
  }
  // RFC 4731 3.1: an empty RETURN () means RETURN (ALL).
  return out.length === 0 ? ['ALL'] : out;
}

function and(keys: SearchKey[]): SearchKey {
  if (keys.length === 1) return keys[0]!;
  // Cheap keys first: AND is commutative, so the order only changes how soon a message is ruled out.
  return { op: 'and', keys: [...keys].sort((a, b) => cost(a) - cost(b)) };
}

/** Rough evaluation cost: 0 in-memory metadata, 1 structure doc, 2 header bytes, 3 body text. */
export function cost(key: SearchKey): number {
  switch (key.op) {
    case 'address':
    case 'date':
      return key.op === 'date' && key.field === 'internal' ? 0 : 1;
    case 'header':
      return 2;
    case 'body':
    case 'text':
      return 3;
    case 'not':
      return cost(key.key);
    case 'or':
      return Math.max(cost(key.a), cost(key.b));
    case 'and':
      return Math.max(...key.keys.map(cost));
    default:
      return 0;
  }
}

function parseKey(cur: Cursor, depth: number, state: { usesModseq: boolean }): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) throw bad('Search criteria nested too deeply');
  const token = cur.next('search key');
  if (token.type === 'list') {
    if (token.items.length === 0) throw bad('Empty search list');
    const inner = new Cursor(token.items);
    const keys: SearchKey[] = [];
    while (!inner.done) keys.push(parseKey(inner, depth + 1, state));
    return and(keys);
  }
  if (token.type !== 'atom' || token.section !== undefined) throw bad('Invalid search key');
  const name = token.value.toUpperCase();
  if (isSequenceSet(token.value)) return { op: 'seq', set: parseSequenceSet(token.value) };
  const flag = FLAG_KEYS[name];
  if (flag) return { op: 'flag', flag: flag[0], set: flag[1] };
  const date = DATE_KEYS[name];
  if (date) return { op: 'date', field: date[0], cmp: date[1], day: parseSearchDate(cur.string('date')) };
  switch (name) {
    case 'ALL':
      return { op: 'all' };
    case 'RECENT':
      return { op: 'recent', set: true };
    case 'OLD':
      return { op: 'recent', set: false };
    case 'NEW': // RFC 3501 6.4.4: equivalent to (RECENT UNSEEN)
      return { op: 'and', keys: [{ op: 'recent', set: true }, { op: 'flag', flag: '\\Seen', set: false }] };
    case 'KEYWORD':
    case 'UNKEYWORD':
      return { op: 'flag', flag: keyword(cur.atom('keyword')), set: name === 'KEYWORD' };
    case 'FROM':
    case 'TO':
    case 'CC':
    case 'BCC':
    case 'SUBJECT':
      return { op: 'address', field: name.toLowerCase() as IndexedHeader, value: cur.string(name) };
    case 'HEADER': {
      const field = cur.string('header field name');
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(field)) throw bad('Invalid header field name');
      return { op: 'header', name: field.toLowerCase(), value: cur.string('header value') };
    }
    case 'BODY':
      return { op: 'body', value: cur.string('BODY string') };
    case 'TEXT':
      return { op: 'text', value: cur.string('TEXT string') };
    case 'LARGER':
    case 'SMALLER':
      return { op: 'size', cmp: name === 'LARGER' ? 'larger' : 'smaller', size: cur.number(name) };
    case 'UID': {
      const set = cur.atom('UID set');
      if (!isSequenceSet(set)) throw bad('Invalid UID set');
      return { op: 'uid', set: parseSequenceSet(set) };
    }
    case 'NOT':
      return { op: 'not', key: parseKey(cur, depth + 1, state) };
    case 'OR': {
      const a = parseKey(cur, depth + 1, state);
      return { op: 'or', a, b: parseKey(cur, depth + 1, state) };
    }
    case 'MODSEQ': {
      // RFC 7162 3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer.
      // Entry names only matter for per-flag modseqs, which we do not keep.
      let value = cur.string('MODSEQ value');
      if (!/^[0-9]+$/.test(value)) {
        cur.atom('MODSEQ entry type');
        value = cur.atom('MODSEQ value');
      }
      if (!/^[0-9]+$/.test(value)) throw bad('Invalid MODSEQ value');
      state.usesModseq = true;
      return { op: 'modseq', modseq: Number(value) };
    }
    default:
      throw bad(`Unknown search key: ${name}`);
  }
}

/** Keywords are atoms without \ (RFC 3501 9 flag-keyword); matched case-insensitively. */
function keyword(text: string): string {
  if (text.startsWith('\\') || !/^[^(){ %*"\\\]\x00-\x1f\x7f]+$/.test(text)) throw bad(`Invalid keyword: ${text}`);
  return text;
}
