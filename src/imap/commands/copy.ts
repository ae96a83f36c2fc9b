// COPY and UID COPY (RFC 3501 6.4.7, 6.4.8) with COPYUID (RFC 4315 3). A
// missing destination is NO [TRYCREATE] (the store raises it).
import { defineCommand, type CommandResult, type CommandSpec } from '../command.js';
import { bad } from '../errors.js';
import { atom, num } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { resolveMessages, selectedMailbox, sequenceSetArg } from '../message/selection.js';
import { formatSequenceSet, type SequenceSet } from '../message/sequence-set.js';
import type { CopyResult } from '../../mail/mailstore.js';

export interface CopyArgs {
  set: SequenceSet;
  destination: string;
}

export function parseCopyArgs(args: Token[], session: ImapSession, name: string): CopyArgs {
  if (args.length !== 2) throw bad(`${name} needs a sequence set and a mailbox`);
  return { set: sequenceSetArg(args[0]), destination: session.mailboxArg(args[1]) };
}

/** [COPYUID uidvalidity source-uids dest-uids] (RFC 4315 3); the mapping is in source UID order. */
export function copyUidCode(result: CopyResult): CommandResult['code'] {
  return {
    name: 'COPYUID',
    args: [
      num(result.uidValidity),
      atom(formatSequenceSet(result.mapping.map(([src]) => src))),
      atom(formatSequenceSet(result.mapping.map(([, dst]) => dst))),
    ],
  };
}

async function handle(session: ImapSession, args: CopyArgs, uid: boolean): Promise<CommandResult> {
  const selected = selectedMailbox(session);
  const uids = resolveMessages(selected, args.set, uid).map((m) => m.meta.uid);
  // RFC 4315 3: a UID COPY that matches nothing copies nothing and carries no COPYUID.
  if (uids.length === 0) return { text: 'No messages copied' };
  const result = await session.store.copy(selected.info.name, uids, args.destination);
  if (result.mapping.length === 0) return { text: 'No messages copied' };
  return { code: copyUidCode(result), text: 'Copy completed' };
}

export const commands: CommandSpec<CopyArgs>[] = [false, true].map((uid) =>
  defineCommand<CopyArgs>({
    name: uid ? 'UID COPY' : 'COPY',
    states: ['selected'],
    usesSequenceNumbers: !uid,
    capabilities: ['UIDPLUS'],
    parse: (args, session) => parseCopyArgs(args, session, uid ? 'UID COPY' : 'COPY'),
    handle: (session, args) => handle(session, args, uid),
  }),
);
