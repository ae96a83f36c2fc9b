// Helpers the message-data commands share: the selected mailbox a command
// needs, a sequence-set argument resolved against the client's view, and
// turning CONDSTORE on when a command uses it (RFC 7162 3.1).
import type { MessageMeta } from '../../mail/mailstore.js';
import { bad, no } from '../errors.js';
import { untaggedStatus } from '../response/responses.js';
import { num } from '../response/values.js';
import type { SelectedMailbox } from '../selected.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { parseSequenceSet, resolveSequenceNumbers, resolveUids, type SequenceSet } from './sequence-set.js';

export interface SelectedMessage {
  seq: number;
  meta: MessageMeta;
}

export function selectedMailbox(session: ImapSession): SelectedMailbox {
  if (!session.selected) throw bad('No mailbox selected');
  return session.selected;
}

export function writableMailbox(session: ImapSession): SelectedMailbox {
  const selected = selectedMailbox(session);
  if (selected.readOnly) throw no('Mailbox is read-only', 'CANNOT');
  return selected;
}

/** The sequence-set token of a command. */
export function sequenceSetArg(token: Token | undefined): SequenceSet {
  if (!token || token.type !== 'atom' || token.section !== undefined) throw bad('Missing or invalid sequence set');
  return parseSequenceSet(token.value);
}

/** The messages a set selects, in sequence order, by UID (UID commands) or by sequence number. */
export function resolveMessages(selected: SelectedMailbox, set: SequenceSet, byUid: boolean): SelectedMessage[] {
  const view = selected.messages();
  const seqs = byUid ? resolveUids(set, view.map((m) => m.uid)) : resolveSequenceNumbers(set, view.length);
  return seqs.map((seq) => ({ seq, meta: view[seq - 1]! }));
}

export function condstoreEnabled(session: ImapSession): boolean {
  return session.enabled.has('CONDSTORE') || session.enabled.has('QRESYNC');
}

/**
 * A CONDSTORE-enabling command (RFC 7162 3.1: FETCH MODSEQ/CHANGEDSINCE,
 * SEARCH MODSEQ, STORE UNCHANGEDSINCE) turns CONDSTORE on for the session; the
 * first time, the client is told the mailbox's HIGHESTMODSEQ.
 */
export async function enableCondstore(session: ImapSession): Promise<void> {
  if (condstoreEnabled(session)) return;
  session.enabled.add('CONDSTORE');
  const selected = session.selected;
  if (selected) await session.send(untaggedStatus('OK', 'Highest', { name: 'HIGHESTMODSEQ', args: [num(selected.highestModseq)] }));
}
