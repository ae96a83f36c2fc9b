// UID sets of the commands this engine owns (QRESYNC known-uids, RFC 7162 3.2.5)
// and their compressed rendering "1:3,7" for VANISHED and response codes.
// (Sequence sets with * and $ for FETCH & co. are the message engine's.)
import { bad } from '../errors.js';

const MAX_SET_SIZE = 1_000_000;

export function parseUidSet(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(part);
    if (!m) throw bad('Invalid UID set');
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a === 0 || b === 0) throw bad('UID 0 is not valid');
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    if (hi - lo + out.length > MAX_SET_SIZE) throw bad('UID set too large', 'LIMIT');
    for (let uid = lo; uid <= hi; uid++) out.push(uid);
  }
  return [...new Set(out)].sort((x, y) => x - y);
}

/** Ascending UIDs -> "1:3,7,9:10". */
export function compressUids(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
