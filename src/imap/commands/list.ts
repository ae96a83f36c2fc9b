// LIST (RFC 3501 6.3.8) with LIST-EXTENDED basics (RFC 5258: selection
// options SUBSCRIBED, RECURSIVEMATCH, SPECIAL-USE; return options SUBSCRIBED,
// CHILDREN, SPECIAL-USE; several patterns) and SPECIAL-USE (RFC 6154).
// LSUB (RFC 3501 6.3.9) lists subscribed mailboxes.
import { defineCommand } from '../command.js';
import { bad } from '../errors.js';
import { untagged } from '../response/responses.js';
import { atom, list, str } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { atomValue, isList, listItems } from './args.js';
import { listMailboxes, type ListQuery } from './list-tree.js';
import { DELIMITER, patternFromToken } from '../mailbox-names.js';

interface ListArgs {
  reference: string;
  query: ListQuery;
}

function parseList(args: Token[], session: ImapSession): ListArgs {
  let i = 0;
  const query: ListQuery = {
    patterns: [],
    subscribedOnly: false,
    recursiveMatch: false,
    specialUseOnly: false,
    returnSubscribed: false,
    // A plain LIST shows hierarchy and special-use attributes unasked.
    returnSpecialUse: true,
    returnChildren: true,
  };
  if (isList(args[0])) {
    for (const opt of listItems(args[i++], 'selection options')) {
      const o = atomValue(opt, 'selection option').toUpperCase();
      if (o === 'SUBSCRIBED') query.subscribedOnly = true;
      else if (o === 'RECURSIVEMATCH') query.recursiveMatch = true;
      else if (o === 'SPECIAL-USE') query.specialUseOnly = true;
      else if (o !== 'REMOTE') throw bad(`Unknown LIST selection option ${o.slice(0, 30)}`);
    }
    if (query.recursiveMatch && !query.subscribedOnly) throw bad('RECURSIVEMATCH needs another selection option');
    if (query.subscribedOnly) query.returnSubscribed = true;
  }
  const reference = patternFromToken(args[i++], session.utf8);
  const pat = args[i++];
  if (isList(pat)) {
    query.patterns = pat.items.map((p) => patternFromToken(p, session.utf8));
  } else {
    query.patterns = [patternFromToken(pat, session.utf8)];
  }
  let returnOptions: string[] | null = null;
  if (i < args.length) {
    if (atomValue(args[i++], 'RETURN').toUpperCase() !== 'RETURN') throw bad('Expected RETURN');
    returnOptions = listItems(args[i++], 'return options').map((opt) => atomValue(opt, 'return option').toUpperCase());
    for (const o of returnOptions) {
      if (o === 'SUBSCRIBED') query.returnSubscribed = true;
      else if (o !== 'CHILDREN' && o !== 'SPECIAL-USE') throw bad(`Unknown LIST return option ${o.slice(0, 30)}`);
    }
  }
  if (i !== args.length) throw bad('Too many arguments to LIST');
  // An extended LIST (RFC 5258 3) returns only the attributes asked for, as Dovecot does;
  // the SPECIAL-USE selection option implies the SPECIAL-USE return option (RFC 6154 5.1).
  const extended = isList(args[0]) || isList(pat) || returnOptions !== null;
  if (extended) {
    query.returnChildren = returnOptions?.includes('CHILDREN') ?? false;
    query.returnSpecialUse = query.specialUseOnly || (returnOptions?.includes('SPECIAL-USE') ?? false);
  }
  return { reference, query };
}

async function sendList(session: ImapSession, kind: 'LIST' | 'LSUB', args: ListArgs): Promise<void> {
  const { reference, query } = args;
  // LIST "" "": the hierarchy delimiter and root (RFC 3501 6.3.8).
  if (query.patterns.length === 1 && query.patterns[0] === '') {
    await session.send(untagged(atom(kind), list([atom('\\Noselect')]), str(DELIMITER), str('')));
    return;
  }
  const entries = listMailboxes(await session.store.listMailboxes(), reference, query);
  const responses = entries.map((e) => {
    const values = [atom(kind), list(e.attributes.map(atom)), str(DELIMITER), session.mailboxValue(e.name)];
    if (e.childInfoSubscribed) values.push(list([str('CHILDINFO'), list([str('SUBSCRIBED')])]));
    return untagged(...values);
  });
  if (responses.length > 0) await session.send(...responses);
}

export const commands = [
  defineCommand({
    name: 'LIST',
    states: ['authenticated', 'selected'],
    capabilities: ['LIST-EXTENDED', 'SPECIAL-USE', 'CHILDREN'],
    parse(args, session) {
      if (args.length < 2) throw bad('Usage: LIST [(options)] reference pattern [RETURN (options)]');
      return parseList(args, session);
    },
    handle: (session, args) => sendList(session, 'LIST', args),
  }),
  defineCommand({
    name: 'LSUB',
    states: ['authenticated', 'selected'],
    parse(args, session): ListArgs {
      if (args.length !== 2) throw bad('Usage: LSUB reference pattern');
      const parsed = parseList(args, session);
      // LSUB: subscribed names only; a non-subscribed parent matched by % shows as \Noselect (RFC 3501 6.3.9).
      parsed.query = { ...parsed.query, subscribedOnly: true, returnSubscribed: false, returnChildren: false, returnSpecialUse: false };
      return parsed;
    },
    handle: (session, args) => sendList(session, 'LSUB', args),
  }),
];
