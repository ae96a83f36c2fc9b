// date-time of APPEND (RFC 3501 9): "dd-Mon-yyyy hh:mm:ss +zzzz", day may be
// space-padded. Returns epoch ms.
import { bad } from '../errors.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export function parseDateTime(text: string): number {
  const m = /^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!m) throw bad('Invalid date-time');
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  const [day, year, h, min, s, zh, zm] = [m[1]!.trim(), m[3], m[4], m[5], m[6], m[8], m[9]].map(Number) as number[];
  if (month < 0 || day! < 1 || day! > 31 || h! > 23 || min! > 59 || s! > 60 || zm! > 59) throw bad('Invalid date-time');
  const offsetMin = (m[7] === '-' ? -1 : 1) * (zh! * 60 + zm!);
  const utc = Date.UTC(year!, month, day!, h!, min!, s!) - offsetMin * 60_000;
  if (new Date(Date.UTC(year!, month, day!)).getUTCDate() !== day) throw bad('Invalid date-time');
  return utc;
}
