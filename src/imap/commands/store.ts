// STORE and UID STORE (RFC 3501 6.4.6, 6.4.8) with the UNCHANGEDSINCE
// modifier and MODIFIED response code (RFC 7162 3.1.3).
import type { FlagOperation, MessageMeta } from '../../mail/mailstore.js';
import { defineCommand, type CommandResult, type CommandSpec } from '../command.js';
import { bad } from '../errors.js';
import { untagged, type Response } from '../response/responses.js';
import { atom, list, num, type ImapValue } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { flagsValue } from '../message/fetch-response.js';
import { parseFlagList } from '../message/flags.js';
import { condstoreEnabled, enableCondstore, resolveMessages, selectedMailbox, sequenceSetArg } from '../message/selection.js';
import { formatSequenceSet, type SequenceSet } from '../message/sequence-set.js';

interface StoreArgs {
  set: SequenceSet;
  op: FlagOperation;
  silent: boolean;
  flags: string[];
  unchangedSince?: number;
}

const OPERATIONS: Record<string, FlagOperation> = { FLAGS: 'set', '+FLAGS': 'add', '-FLAGS': 'remove' };

function parse(args: Token[]): StoreArgs {
  const [setToken, ...rest] = args;
  const set = sequenceSetArg(setToken);
  let unchangedSince: number | undefined;
  // RFC 7162 3.1.3: STORE set (UNCHANGEDSINCE n) item value
  if (rest[0]?.type === 'list') {
    const mods = rest.shift() as Extract<Token, { type: 'list' }>;
    const [name, value, ...extra] = mods.items;
    if (name?.type !== 'atom' || name.value.toUpperCase() !== 'UNCHANGEDSINCE' || value?.type !== 'atom' || !/^[0-9]+$/.test(value.value) || extra.length > 0) {
      throw bad('Invalid STORE modifier');
    }
    unchangedSince = Number(value.value);
  }
  const [itemToken, ...values] = rest;
  if (itemToken?.type !== 'atom' || values.length === 0) throw bad('STORE needs a data item and flags');
  const item = itemToken.value.toUpperCase();
  const silent = item.endsWith('.SILENT');
  const op = OPERATIONS[silent ? item.slice(0, -'.SILENT'.length) : item];
  if (!op) throw bad(`Invalid STORE data item: ${itemToken.value}`);
  // The flags: one parenthesised list, or flags separated by spaces (RFC 3501 9: store-att-flags).
  const flags = parseFlagList(values.length === 1 && values[0]!.type === 'list' ? values[0]!.items : values);
  return { set, op, silent, flags, unchangedSince };
}

async function handle(session: ImapSession, args: StoreArgs, uid: boolean): Promise<void | CommandResult> {
  const selected = selectedMailbox(session);
  // Like Dovecot: a STORE in an EXAMINEd mailbox changes nothing but is not an error.
  if (selected.readOnly) return { text: 'Store ignored with read-only mailbox' };
  if (args.unchangedSince !== undefined) await enableCondstore(session);
  const messages = resolveMessages(selected, args.set, uid);
  if (messages.length === 0) return;
  const result = await session.store.storeFlags(
    selected.info.name,
    messages.map((m) => m.meta.uid),
    args.op,
    args.flags,
    args.unchangedSince === undefined ? undefined : { unchangedSince: args.unchangedSince },
  );
  const condstore = condstoreEnabled(session);
  const responses: Response[] = [];
  const updated = new Map<number, MessageMeta>(result.updated.map((m) => [m.uid, m]));
  for (const m of messages) {
    const meta = updated.get(m.meta.uid);
    if (meta) selected.updateMessage(meta);
    // RFC 3501 6.4.6: the new flags of each message the STORE changed (a message left as it was is
    // not reported, as in Dovecot), unless .SILENT. RFC 7162 3.1.3 (example 3): with CONDSTORE on, a
    // .SILENT STORE still reports the new MODSEQ of each message it changed.
    if (!meta || (args.silent && !condstore)) continue;
    const current = meta;
    const items: ImapValue[] = [];
    if (uid) items.push(atom('UID'), num(current.uid));
    if (!args.silent) items.push(atom('FLAGS'), flagsValue(current.flags));
    if (condstore) items.push(atom('MODSEQ'), list([num(current.modseq)]));
    responses.push(untagged(num(m.seq), atom('FETCH'), list(items)));
  }
  if (responses.length > 0) await session.send(...responses);
  if (result.modified.length > 0) {
    const modified = uid ? [...result.modified].sort((a, b) => a - b) : selected.uidsToSeq(result.modified).sort((a, b) => a - b);
    return { code: { name: 'MODIFIED', args: [atom(formatSequenceSet(modified))] }, text: 'Conditional STORE failed' };
  }
}

export const commands: CommandSpec<StoreArgs>[] = [false, true].map((uid) =>
  defineCommand<StoreArgs>({
    name: uid ? 'UID STORE' : 'STORE',
    states: ['selected'],
    usesSequenceNumbers: !uid,
    capabilities: [{ name: 'CONDSTORE', enableable: true }],
    parse,
    handle: (session, args) => handle(session, args, uid),
  }),
);
