// Every IMAP command the server knows, in one registry. Add a command file's
// `commands` here (see src/imap/command.ts for how to write one).
import { CommandRegistry } from '../command.js';
import { commands as append } from './append.js';
import { commands as authenticate } from './authenticate.js';
import { commands as capability } from './capability.js';
import { commands as close } from './close.js';
import { commands as copy } from './copy.js';
import { commands as create } from './create.js';
import { commands as del } from './delete.js';
import { commands as enable } from './enable.js';
import { commands as expunge } from './expunge.js';
import { commands as fetch } from './fetch.js';
import { commands as id } from './id.js';
import { commands as idle } from './idle.js';
import { commands as list } from './list.js';
import { commands as login } from './login.js';
import { commands as logout } from './logout.js';
import { commands as move } from './move.js';
import { commands as namespace } from './namespace.js';
import { commands as noop } from './noop.js';
import { commands as rename } from './rename.js';
import { commands as search } from './search.js';
import { commands as select } from './select.js';
import { commands as starttls } from './starttls.js';
import { commands as status } from './status.js';
import { commands as store } from './store.js';
import { commands as subscribe } from './subscribe.js';
import { commands as uidExpunge } from './uid-expunge.js';

export function createDefaultRegistry(): CommandRegistry {
  return new CommandRegistry().register(
    ...capability,
    ...noop,
    ...logout,
    ...starttls,
    ...login,
    ...authenticate,
    ...id,
    ...enable,
    ...namespace,
    ...select,
    ...create,
    ...del,
    ...rename,
    ...subscribe,
    ...list,
    ...status,
    ...append,
    ...idle,
    ...close,
    ...expunge,
    // message data (RFC 3501 6.4, UIDPLUS, MOVE)
    ...fetch,
    ...search,
    ...store,
    ...copy,
    ...move,
    ...uidExpunge,
  );
}
