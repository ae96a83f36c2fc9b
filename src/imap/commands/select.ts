// SELECT and EXAMINE (RFC 3501 6.3.1, 6.3.2) with the CONDSTORE parameter and
// HIGHESTMODSEQ (RFC 7162 3.1.2, 3.1.8) and the QRESYNC parameter
// (RFC 7162 3.2.5: VANISHED (EARLIER) and FETCH of messages changed since).
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { untagged, untaggedStatus, type Response } from '../response/responses.js';
import { atom, list, num } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { atomValue, expectCount, isList, listItems, numberValue } from './args.js';
import { compressUids, parseUidSet } from './uid-set.js';
import type { SelectedMailbox } from '../selected.js';

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

interface QresyncParams {
  uidValidity: number;
  modseq: number;
  knownUids: number[] | null;
}

interface SelectArgs {
  mailbox: string;
  condstore: boolean;
  qresync: QresyncParams | null;
}

function parseParams(session: ImapSession, token: Token | undefined): Omit<SelectArgs, 'mailbox'> {
  const out: Omit<SelectArgs, 'mailbox'> = { condstore: false, qresync: null };
  if (!token) return out;
  const items = listItems(token, 'SELECT parameter');
  for (let i = 0; i < items.length; i++) {
    const name = atomValue(items[i], 'SELECT parameter').toUpperCase();
    if (name === 'CONDSTORE') {
      out.condstore = true;
    } else if (name === 'QRESYNC') {
      if (!session.enabled.has('QRESYNC')) throw bad('QRESYNC must be ENABLEd first (RFC 7162 3.2.3)');
      const q = listItems(items[++i], 'QRESYNC parameter');
      if (q.length < 2 || q.length > 4) throw bad('QRESYNC (uidvalidity modseq [known-uids [seq-match]])');
      const knownUids = q[2] && !isList(q[2]) ? parseUidSet(atomValue(q[2], 'known UIDs')) : null;
      out.qresync = { uidValidity: numberValue(q[0], 'UIDVALIDITY'), modseq: numberValue(q[1], 'mod-sequence'), knownUids };
    } else {
      throw bad(`Unknown SELECT parameter ${name.slice(0, 30)}`);
    }
  }
  return out;
}

function selectCommand(name: 'SELECT' | 'EXAMINE', readOnly: boolean) {
  return defineCommand({
    name,
    states: ['authenticated', 'selected'],
    // QRESYNC's SELECT part lives here; UID FETCH (CHANGEDSINCE .. VANISHED) is the message engine's.
    capabilities: [{ name: 'QRESYNC', enableable: true }],
    parse(args, session): SelectArgs {
      expectCount(args, 1, 2, `${name} mailbox [(parameters)]`);
      return { mailbox: session.mailboxArg(args[0]), ...parseParams(session, args[1]) };
    },
    async handle(session, args) {
      const hadSelected = session.selected !== null;
      session.unselect();
      if (hadSelected && session.enabled.has('QRESYNC')) await session.send(untaggedStatus('OK', 'Previous mailbox closed', { name: 'CLOSED' }));
      if (args.condstore) session.enabled.add('CONDSTORE');
      const view = await session.select(args.mailbox, readOnly);
      const messages = view.messages();
      const keywords = new Set<string>();
      for (const m of messages) for (const f of m.flags) if (!f.startsWith('\\')) keywords.add(f);
      const flags = [...SYSTEM_FLAGS, ...[...keywords].sort()].map(atom);
      const firstUnseen = messages.findIndex((m) => !m.flags.includes('\\Seen'));
      const responses: Response[] = [
        untagged(atom('FLAGS'), list(flags)),
        untaggedStatus('OK', readOnly ? 'No permanent flags permitted' : 'Flags permitted', {
          name: 'PERMANENTFLAGS',
          args: [list(readOnly ? [] : [...flags, atom('\\*')])],
        }),
        untagged(num(view.exists), atom('EXISTS')),
        untagged(num(0), atom('RECENT')),
      ];
      if (firstUnseen >= 0) responses.push(untaggedStatus('OK', 'First unseen', { name: 'UNSEEN', args: [num(firstUnseen + 1)] }));
      responses.push(
        untaggedStatus('OK', 'UIDs valid', { name: 'UIDVALIDITY', args: [num(view.info.uidValidity)] }),
        untaggedStatus('OK', 'Predicted next UID', { name: 'UIDNEXT', args: [num(view.info.uidNext)] }),
        untaggedStatus('OK', 'Highest', { name: 'HIGHESTMODSEQ', args: [num(view.highestModseq)] }),
      );
      if (args.qresync && args.qresync.uidValidity === view.info.uidValidity) {
        responses.push(...qresyncResponses(view, args.qresync));
      }
      await session.send(...responses);
      return { code: { name: readOnly ? 'READ-ONLY' : 'READ-WRITE' }, text: `${name} completed` };
    },
  });
}

/**
 * RFC 7162 3.2.5.1: expunged UIDs as VANISHED (EARLIER), then FETCH of the
 * messages changed since the client's modseq. Without per-UID expunge history,
 * every absent UID (of the known set, or below UIDNEXT) is reported, which
 * the RFC allows.
 */
function qresyncResponses(view: SelectedMailbox, q: QresyncParams): Response[] {
  const out: Response[] = [];
  const vanished = q.knownUids
    ? compressUids(q.knownUids.filter((uid) => view.uidToSeq(uid) === undefined))
    : absentUids(view.messages().map((m) => m.uid), view.info.uidNext - 1);
  if (vanished !== '') out.push(untagged(atom('VANISHED'), list([atom('EARLIER')]), atom(vanished)));
  view.messages().forEach((m, i) => {
    if (m.modseq <= q.modseq) return;
    out.push(untagged(num(i + 1), atom('FETCH'), list([atom('UID'), num(m.uid), atom('FLAGS'), list(m.flags.map(atom)), atom('MODSEQ'), list([num(m.modseq)])])));
  });
  return out;
}

/** The gaps of ascending `present` within 1..max, as a UID set ("1:4,7"). */
function absentUids(present: number[], max: number): string {
  const parts: string[] = [];
  let next = 1;
  for (const uid of [...present, max + 1]) {
    const end = Math.min(uid - 1, max);
    if (end >= next) parts.push(end === next ? String(next) : `${next}:${end}`);
    next = Math.max(next, uid + 1);
  }
  return parts.join(',');
}

export const commands = [selectCommand('SELECT', false), selectCommand('EXAMINE', true)];
