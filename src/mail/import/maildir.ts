// Reading a Maildir for `sealmail import`: one message per file in cur/ and
// new/ (tmp/ holds deliveries in progress and is left alone). The flags are
// in the name after ":2," (the "info" part, https://cr.yp.to/proto/maildir.html):
// D draft, F flagged, P passed (forwarded), R replied, S seen, T trashed;
// lower-case letters are Dovecot keywords numbered in a side file and are
// not carried over. The file's mtime is the message's internal date (what
// Dovecot and mutt use).
import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const FLAG_LETTERS: Record<string, string> = {
  D: '\\Draft',
  F: '\\Flagged',
  P: '$Forwarded',
  R: '\\Answered',
  S: '\\Seen',
  T: '\\Deleted',
};

/** IMAP flags of a Maildir file name ("1700000000.M1P2.host:2,FRS" -> \Flagged \Answered \Seen). */
export function maildirFlags(name: string): string[] {
  // "!" instead of ":" is the Windows-safe variant some tools write.
  const m = /[:!]2,([^/]*)$/.exec(name);
  if (!m) return [];
  const flags: string[] = [];
  for (const letter of m[1]!) {
    const flag = FLAG_LETTERS[letter];
    if (flag && !flags.includes(flag)) flags.push(flag);
  }
  return flags;
}

export interface MaildirEntry {
  path: string;
  flags: string[];
  /** The file's mtime, epoch ms. */
  internalDate: number;
}

export function isMaildir(dir: string): boolean {
  return existsSync(join(dir, 'cur')) || existsSync(join(dir, 'new'));
}

/** The messages of a Maildir, oldest first (by mtime, then name, so the order is stable). */
export async function listMaildir(dir: string): Promise<MaildirEntry[]> {
  const out: MaildirEntry[] = [];
  for (const sub of ['cur', 'new']) {
    const subdir = join(dir, sub);
    if (!existsSync(subdir)) continue;
    for (const name of await readdir(subdir)) {
      if (name.startsWith('.')) continue;
      const path = join(subdir, name);
      const st = await stat(path);
      if (!st.isFile()) continue;
      // new/ holds mail no client has seen yet: its names carry no flags.
      out.push({ path, flags: sub === 'cur' ? maildirFlags(name) : [], internalDate: Math.floor(st.mtimeMs) });
    }
  }
  return out.sort((a, b) => a.internalDate - b.internalDate || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
