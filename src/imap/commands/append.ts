// APPEND (RFC 3501 6.3.11) with APPENDUID (UIDPLUS, RFC 4315 3) and
// LITERAL+ (RFC 7888). The message literal is streamed from the wire into
// the store (never buffered whole here); its size limit is enforced by the
// parser (NO [TOOBIG]). A missing mailbox is NO [TRYCREATE].
import { defineCommand } from '../command.js';
import { MailStoreError } from '../../mail/mailstore.js';
import { bad, no } from '../errors.js';
import { num } from '../response/values.js';
import { expectCount, isList, listItems, atomValue } from './args.js';
import { parseDateTime } from './date-time.js';

interface AppendArgs {
  mailbox: string;
  flags: string[];
  internalDate?: number;
  /** A message that arrived inline (not streamed): only when the parser could not tell it was the message. */
  inline?: Buffer;
}

const SYSTEM_FLAGS = new Map(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'].map((f) => [f.toLowerCase(), f]));

function parseFlag(text: string): string {
  if (text.startsWith('\\')) {
    const flag = SYSTEM_FLAGS.get(text.toLowerCase());
    if (!flag) throw bad(`Invalid flag ${text.slice(0, 30)}`);
    return flag;
  }
  if (!/^[!#$&'+-.0-9:;<=>?@A-Z^-z|~]+$/.test(text)) throw bad('Invalid keyword');
  return text;
}

export const commands = [
  defineCommand({
    name: 'APPEND',
    states: ['authenticated', 'selected'],
    capabilities: ['LITERAL+'],
    parse(args, session): AppendArgs {
      expectCount(args, 1, 4, 'APPEND mailbox [(flags)] [date-time] literal');
      const out: AppendArgs = { mailbox: session.mailboxArg(args[0]), flags: [] };
      let i = 1;
      if (isList(args[i])) out.flags = [...new Set(listItems(args[i++], 'flag').map((t) => parseFlag(atomValue(t, 'flag'))))];
      const t = args[i];
      if (t?.type === 'string' && t.form === 'quoted') {
        out.internalDate = parseDateTime(t.value.toString('latin1'));
        i++;
      }
      const msg = args[i];
      if (msg) {
        if (msg.type !== 'string' || msg.form === 'quoted') throw bad('The message must be a literal');
        out.inline = msg.value;
        i++;
      }
      if (i !== args.length) throw bad('Unexpected APPEND arguments');
      return out;
    },
    async handle(session, args, _tag, ctx) {
      const source = ctx.literal ?? args.inline;
      if (!source) throw bad('Missing message literal');
      if ((ctx.literal?.size ?? args.inline?.length) === 0) throw no('Empty message', 'CANNOT');
      try {
        // Refuse a missing mailbox before the client uploads the message (it waits for "+"), as Dovecot does.
        if (ctx.literal) {
          await session.store.status(args.mailbox);
          ctx.literal.accept();
        }
        const res = await session.store.append(args.mailbox, source, { flags: args.flags, internalDate: args.internalDate });
        session.log.info({ mailbox: args.mailbox, uid: res.uid }, 'appended');
        return { code: { name: 'APPENDUID', args: [num(res.uidValidity), num(res.uid)] }, text: 'APPEND completed' };
      } catch (err) {
        // RFC 3501 6.3.11: a missing destination is TRYCREATE, so the client can offer to create it.
        if (err instanceof MailStoreError && err.code === 'NONEXISTENT') throw no('Mailbox does not exist', 'TRYCREATE');
        throw err;
      }
    },
  }),
];
