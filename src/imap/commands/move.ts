// MOVE and UID MOVE (RFC 6851): copy + expunge as one store operation. The
// COPYUID goes in an untagged OK before the EXPUNGE (or VANISHED) responses
// (RFC 6851 4.3), and the tagged OK carries no code.
import { defineCommand, type CommandResult, type CommandSpec } from '../command.js';
import { untagged, untaggedStatus, type Response } from '../response/responses.js';
import { atom, num } from '../response/values.js';
import type { ImapSession } from '../session.js';
import { resolveMessages, writableMailbox } from '../message/selection.js';
import { formatSequenceSet } from '../message/sequence-set.js';
import { copyUidCode, parseCopyArgs, type CopyArgs } from './copy.js';

/** EXPUNGE (or, with QRESYNC, VANISHED) responses for UIDs this session removed itself. */
export function expungeResponses(session: ImapSession, uids: number[]): Response[] {
  const selected = session.selected!;
  const known = uids.filter((u) => selected.uidToSeq(u) !== undefined);
  const seqs = selected.removeUids(known);
  if (session.enabled.has('QRESYNC')) {
    // RFC 7162 3.2.10: VANISHED instead of EXPUNGE.
    return known.length > 0 ? [untagged(atom('VANISHED'), atom(formatSequenceSet([...known].sort((a, b) => a - b))))] : [];
  }
  return seqs.map((seq) => untagged(num(seq), atom('EXPUNGE')));
}

async function handle(session: ImapSession, args: CopyArgs, uid: boolean): Promise<CommandResult | void> {
  const selected = writableMailbox(session);
  const uids = resolveMessages(selected, args.set, uid).map((m) => m.meta.uid);
  if (uids.length === 0) return { text: 'No messages moved' };
  const result = await session.store.move(selected.info.name, uids, args.destination);
  const responses: Response[] = [];
  if (result.mapping.length > 0) responses.push(untaggedStatus('OK', 'Moved', copyUidCode(result)));
  responses.push(...expungeResponses(session, result.mapping.map(([src]) => src)));
  await session.send(...responses);
}

export const commands: CommandSpec<CopyArgs>[] = [false, true].map((uid) =>
  defineCommand<CopyArgs>({
    name: uid ? 'UID MOVE' : 'MOVE',
    states: ['selected'],
    usesSequenceNumbers: !uid,
    capabilities: ['MOVE'],
    parse: (args, session) => parseCopyArgs(args, session, uid ? 'UID MOVE' : 'MOVE'),
    handle: (session, args) => handle(session, args, uid),
  }),
);
