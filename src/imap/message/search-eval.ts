// Evaluating a parsed SEARCH key (search.ts) against one message of the
// session's view (RFC 3501 6.4.4). Metadata keys are answered from memory;
// header keys from the structure document; only HEADER, BODY and TEXT read
// message bytes, through the SearchContent given by the caller.
import type { MessageMeta } from '../../mail/mailstore.js';
import type { SearchFields } from '../../mail/structure/types.js';
import type { SearchKey } from './search.js';
import { setContains } from './sequence-set.js';

export interface SearchMessage {
  /** Message sequence number in the session's view. */
  seq: number;
  meta: MessageMeta;
  /** \Recent in this session (RFC 3501 2.3.2). */
  recent: boolean;
}

/** Where the content-dependent keys get their data (see search-content.ts). */
export interface SearchContent {
  /** The decoded header fields of the structure document (From, To, Subject, Date...). */
  fields(meta: MessageMeta): Promise<SearchFields>;
  /** Decoded values of every header field called `name` (lower-case) in the top-level header. */
  headerValues(meta: MessageMeta, name: string): Promise<string[]>;
  /** The whole top-level header, decoded (for TEXT). */
  headerText(meta: MessageMeta): Promise<string>;
  /** Does the decoded text of the message's text parts contain `needle`, case-insensitively (BODY, TEXT)? */
  bodyContains(meta: MessageMeta, needle: string): Promise<boolean>;
}

export interface SearchScope {
  /** Number of messages in the view ('*' of a sequence set). */
  count: number;
  /** Largest UID in the view ('*' of a UID set). */
  maxUid: number;
  content: SearchContent;
}

const DAY = 86_400_000;

/** Case-insensitive substring match, as Dovecot does without FTS (RFC 3501 6.4.4). */
export function containsText(haystack: string, needle: string): boolean {
  return haystack.toLowerCase().includes(needle.toLowerCase());
}

function compareDay(time: number, cmp: 'before' | 'on' | 'since', day: number): boolean {
  // RFC 3501 6.4.4: dates are compared disregarding time and timezone; we take the UTC day.
  const d = Math.floor(time / DAY) * DAY;
  return cmp === 'before' ? d < day : cmp === 'on' ? d === day : d >= day;
}

function hasFlag(meta: MessageMeta, flag: string): boolean {
  const wanted = flag.toLowerCase();
  return meta.flags.some((f) => f.toLowerCase() === wanted);
}

/** True when `msg` matches `key`. Synchronous whenever no content is needed. */
export function matches(key: SearchKey, msg: SearchMessage, scope: SearchScope): boolean | Promise<boolean> {
  const meta = msg.meta;
  switch (key.op) {
    case 'all':
      return true;
    case 'flag':
      return hasFlag(meta, key.flag) === key.set;
    case 'recent':
      return msg.recent === key.set;
    case 'seq':
      return setContains(key.set, msg.seq, scope.count);
    case 'uid':
      return setContains(key.set, meta.uid, scope.maxUid);
    case 'size':
      return key.cmp === 'larger' ? meta.size > key.size : meta.size < key.size;
    case 'modseq':
      return meta.modseq >= key.modseq;
    case 'date':
      if (key.field === 'internal') return compareDay(meta.internalDate, key.cmp, key.day);
      // No (parseable) Date: header counts as 1 Jan 1970, as in Dovecot.
      return scope.content.fields(meta).then((f) => compareDay(f.sentDate ?? 0, key.cmp, key.day));
    case 'address':
      return scope.content.fields(meta).then((f) => containsText(f[key.field], key.value));
    case 'header':
      return scope.content.headerValues(meta, key.name).then((values) =>
        // RFC 3501 6.4.4: an empty string matches every message that has the field.
        values.some((v) => key.value === '' || containsText(v, key.value)),
      );
    case 'body':
      return scope.content.bodyContains(meta, key.value);
    case 'text':
      return scope.content.headerText(meta).then(async (header) =>
        containsText(header, key.value) || scope.content.bodyContains(meta, key.value),
      );
    case 'not': {
      const r = matches(key.key, msg, scope);
      return typeof r === 'boolean' ? !r : r.then((v) => !v);
    }
    case 'or': {
      const a = matches(key.a, msg, scope);
      if (a === true) return true;
      if (a === false) return matches(key.b, msg, scope);
      return a.then((v) => v || matches(key.b, msg, scope));
    }
    case 'and':
      return allMatch(key.keys, 0, msg, scope);
  }
}

function allMatch(keys: SearchKey[], from: number, msg: SearchMessage, scope: SearchScope): boolean | Promise<boolean> {
  for (let i = from; i < keys.length; i++) {
    const r = matches(keys[i]!, msg, scope);
    if (r === false) return false;
    if (r !== true) return r.then((v) => v && allMatch(keys, i + 1, msg, scope));
  }
  return true;
}

/** Messages whose content is being read at the same time (overlaps the store's read latency). */
const CONCURRENCY = 32;

/** The matching messages, in order. Metadata-only keys are answered synchronously. */
export async function searchMessages(key: SearchKey, messages: readonly SearchMessage[], scope: SearchScope): Promise<SearchMessage[]> {
  const hit = new Uint8Array(messages.length);
  // A sliding window: a new message starts as soon as any one finishes (not batch by batch).
  const running = new Set<Promise<void>>();
  let failure: unknown = null;
  for (let i = 0; i < messages.length && failure === null; i++) {
    const r = matches(key, messages[i]!, scope);
    if (r === true) hit[i] = 1;
    else if (r !== false) {
      const p: Promise<void> = r.then(
        (v) => void (hit[i] = v ? 1 : 0),
        (err: unknown) => void (failure ??= err),
      );
      running.add(p);
      void p.then(() => running.delete(p));
      if (running.size >= CONCURRENCY) await Promise.race(running);
    }
  }
  await Promise.all(running);
  if (failure !== null) throw failure;
  return messages.filter((_, i) => hit[i] === 1);
}
