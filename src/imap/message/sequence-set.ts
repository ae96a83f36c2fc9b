// Sequence sets (RFC 3501 9: sequence-set, seq-range, seq-number) and their
// resolution against the session's view of a mailbox, by message sequence
// number or by UID (RFC 3501 6.4.8).
import { bad } from '../errors.js';

/** A number, or '*' (the largest number in use). */
export type SeqNumber = number | '*';

export interface SeqRange {
  from: SeqNumber;
  to: SeqNumber;
}

export type SequenceSet = SeqRange[];

const NZ_NUMBER = /^[1-9][0-9]*$/;
const MAX_NUMBER = 0xffffffff; // nz-number is a 32-bit unsigned (RFC 3501 9)

function parseSeqNumber(text: string, whole: string): SeqNumber {
  if (text === '*') return '*';
  if (!NZ_NUMBER.test(text)) throw bad(`Invalid sequence set: ${whole}`);
  const n = Number(text);
  if (n > MAX_NUMBER) throw bad(`Invalid sequence set: ${whole}`);
  return n;
}

/**
 * Parses "1,3:5,7:*". "$" (RFC 5182 SEARCHRES) is not supported and is
 * rejected like any other malformed set.
 */
export function parseSequenceSet(text: string): SequenceSet {
  if (text.length === 0) throw bad('Empty sequence set');
  const ranges: SequenceSet = [];
  for (const part of text.split(',')) {
    const colon = part.indexOf(':');
    if (colon < 0) {
      const n = parseSeqNumber(part, text);
      ranges.push({ from: n, to: n });
    } else {
      ranges.push({ from: parseSeqNumber(part.slice(0, colon), text), to: parseSeqNumber(part.slice(colon + 1), text) });
    }
  }
  return ranges;
}

/** True when `text` is syntactically a sequence set (used by SEARCH to tell a set from a key). */
export function isSequenceSet(text: string): boolean {
  return /^(\*|[1-9][0-9]*)(:(\*|[1-9][0-9]*))?(,(\*|[1-9][0-9]*)(:(\*|[1-9][0-9]*))?)*$/.test(text);
}

function bounds(range: SeqRange, star: number): [number, number] {
  const a = range.from === '*' ? star : range.from;
  const b = range.to === '*' ? star : range.to;
  return a <= b ? [a, b] : [b, a]; // "5:1" is the same as "1:5" (RFC 3501 9, seq-range)
}

/**
 * Message sequence numbers (1-based, ascending, unique) selected by `set` in a
 * mailbox of `count` messages. A number beyond `count` is an error, as in
 * Dovecot ("Invalid messageset"); '*' in an empty mailbox too.
 */
export function resolveSequenceNumbers(set: SequenceSet, count: number): number[] {
  const selected = new Uint8Array(count + 1);
  for (const range of set) {
    const [lo, hi] = bounds(range, count);
    if (lo < 1 || hi > count) throw bad('Invalid messageset');
    selected.fill(1, lo, hi + 1);
  }
  const out: number[] = [];
  for (let i = 1; i <= count; i++) if (selected[i]) out.push(i);
  return out;
}

/**
 * Sequence numbers (1-based, ascending) of the messages whose UIDs `set`
 * selects, given the UIDs of the mailbox in ascending order. '*' is the
 * largest UID in use, so "n:*" always includes the last message even when n
 * is beyond it; ranges that match nothing are not an error (RFC 3501 6.4.8).
 */
export function resolveUids(set: SequenceSet, uids: readonly number[]): number[] {
  if (uids.length === 0) return [];
  const star = uids[uids.length - 1]!;
  const selected = new Uint8Array(uids.length);
  for (const range of set) {
    const [lo, hi] = bounds(range, star);
    let i = lowerBound(uids, lo);
    while (i < uids.length && uids[i]! <= hi) selected[i++] = 1;
  }
  const out: number[] = [];
  for (let i = 0; i < uids.length; i++) if (selected[i]) out.push(i + 1);
  return out;
}

/** True when `uid` is in `set` (with '*' meaning `star`); for SEARCH UID. */
export function setContains(set: SequenceSet, value: number, star: number): boolean {
  for (const range of set) {
    const [lo, hi] = bounds(range, star);
    if (value >= lo && value <= hi) return true;
  }
  return false;
}

/** First index i with sorted[i] >= value. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compact "1:3,5" form of ascending numbers (RFC 4315 uid-set, for COPYUID). */
export function formatSequenceSet(numbers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    parts.push(j === i ? String(numbers[i]) : `${numbers[i]}:${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
