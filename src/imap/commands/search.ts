// SEARCH and UID SEARCH (RFC 3501 6.4.4, 6.4.8), with CHARSET, the MODSEQ
// criterion and response (RFC 7162 3.1.5) and ESEARCH RETURN options (RFC 4731).
import { defineCommand, type CommandSpec } from '../command.js';
import { untagged } from '../response/responses.js';
import { atom, list, num, str, type ImapValue } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { parseSearchRequest, type SearchRequest } from '../message/search.js';
import { createSearchContent } from '../message/search-content.js';
import { searchMessages, type SearchMessage } from '../message/search-eval.js';
import { enableCondstore, selectedMailbox } from '../message/selection.js';
import { formatSequenceSet } from '../message/sequence-set.js';

interface SearchArgs {
  request: SearchRequest;
}

async function handle(session: ImapSession, args: SearchArgs, tag: string, uid: boolean): Promise<void> {
  const selected = selectedMailbox(session);
  const { request } = args;
  if (request.usesModseq) await enableCondstore(session);
  const view = selected.messages();
  const messages: SearchMessage[] = view.map((meta, i) => ({ seq: i + 1, meta, recent: false }));
  const found = await searchMessages(request.key, messages, {
    count: view.length,
    maxUid: selected.lastUid,
    content: createSearchContent(session.store),
  });
  const numbers = found.map((m) => (uid ? m.meta.uid : m.seq));
  // RFC 7162 3.1.5: the highest mod-sequence of the messages found, when MODSEQ was searched for.
  const modseq = request.usesModseq && found.length > 0 ? found.reduce((max, m) => Math.max(max, m.meta.modseq), 0) : null;

  if (request.returns === null) {
    const values: ImapValue[] = [atom('SEARCH'), ...numbers.map(num)];
    if (modseq !== null) values.push(list([atom('MODSEQ'), num(modseq)]));
    await session.send(untagged(...values));
    return;
  }
  // RFC 4731 3.1: * ESEARCH (TAG "x") [UID] MIN n MAX n COUNT n ALL set
  const values: ImapValue[] = [atom('ESEARCH'), list([atom('TAG'), str(tag)])];
  if (uid) values.push(atom('UID'));
  for (const option of request.returns) {
    if (option === 'COUNT') values.push(atom('COUNT'), num(numbers.length));
    else if (numbers.length === 0) continue; // MIN, MAX and ALL are omitted when nothing matched
    else if (option === 'MIN') values.push(atom('MIN'), num(numbers[0]!));
    else if (option === 'MAX') values.push(atom('MAX'), num(numbers[numbers.length - 1]!));
    else values.push(atom('ALL'), atom(formatSequenceSet(numbers)));
  }
  if (modseq !== null) values.push(atom('MODSEQ'), num(modseq));
  await session.send(untagged(...values));
}

export const commands: CommandSpec<SearchArgs>[] = [false, true].map((uid) =>
  defineCommand<SearchArgs>({
    name: uid ? 'UID SEARCH' : 'SEARCH',
    states: ['selected'],
    usesSequenceNumbers: !uid,
    capabilities: ['ESEARCH'],
    parse: (args: Token[]) => ({ request: parseSearchRequest(args, { esearch: true }) }),
    handle: (session, args, tag) => handle(session, args, tag, uid),
  }),
);
