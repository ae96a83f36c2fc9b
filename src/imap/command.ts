// The command framework: how an IMAP command is declared and registered.
//
// HOW TO ADD A COMMAND
// 1. Create src/imap/commands/<name>.ts exporting `commands: CommandSpec[]`
//    (one spec per command name, e.g. FETCH and UID FETCH), each made with
//    defineCommand({...}) and citing its RFC section in a comment.
// 2. `parse(args, session)` turns the wire tokens (src/imap/wire/tokens.ts)
//    into your own argument type; throw `bad('...')` (src/imap/errors.ts) on
//    bad syntax: the dispatcher answers `<tag> BAD <text>`.
// 3. `handle(session, args, tag, ctx)` does the work: send untagged data with
//    `await session.send(untagged(...))` (builders in src/imap/response/),
//    throw `no('...', 'CODE')` for failures; MailStoreError thrown by the store
//    becomes NO [its code] automatically; any other error becomes
//    NO [SERVERBUG] (logged, never shown to the client). Return nothing for
//    `<tag> OK <NAME> completed`, or `{ code, text }` for a custom OK.
//    Do NOT send the tagged response yourself.
// 4. Set `usesSequenceNumbers: true` for commands that take or return
//    message sequence numbers (FETCH, STORE, SEARCH, COPY, MOVE): pending
//    EXPUNGEs are then held back at their end (RFC 3501 7.4.1).
//    In the selected state, `session.selected.messages()` already carries
//    the flags other sessions set (applied just before the handler runs);
//    their untagged announcements, new messages (EXISTS) and expunges are
//    sent by the dispatcher after the handler, before the tagged response.
//    A handler that changes messages itself and tells the client calls
//    `selected.updateMessage(meta)` / `selected.removeUids(uids)` so the
//    same change is not announced twice.
// 5. Declare the capabilities the command brings in `capabilities` (e.g.
//    'IDLE', { name: 'CONDSTORE', enableable: true }): CAPABILITY derives
//    its list from the registry, so it advertises only what is registered.
// 6. Add the file's `commands` to src/imap/commands/index.ts.
import type { ImapSession, SessionState } from './session.js';
import type { ResponseCode } from './response/values.js';
import type { Token } from './wire/tokens.js';
import type { LiteralStream } from './wire/parser.js';

export type { SessionState } from './session.js';

export interface CapabilitySpec {
  /** As advertised: "IDLE", "AUTH=PLAIN", "CONDSTORE". */
  name: string;
  /** May be turned on with ENABLE (RFC 5161), then found in session.enabled. */
  enableable?: boolean;
  /** Advertised only when this holds (e.g. STARTTLS only before TLS). */
  when?: (session: ImapSession) => boolean;
}

export interface CommandContext {
  /**
   * APPEND's message literal, streamed from the wire (exactly `size` bytes). Call accept()
   * before reading it: for a synchronizing literal that sends the "+" the client waits for.
   */
  literal?: LiteralStream;
}

/** What a handler may return for a custom tagged OK. */
export interface CommandResult {
  code?: ResponseCode;
  text?: string;
  /** Runs once the tagged OK is written (STARTTLS upgrades the socket, LOGOUT closes it). */
  afterResponse?: () => Promise<void> | void;
}

export interface CommandSpec<A = unknown> {
  /** Upper-case name as sent, "UID FETCH" for UID commands. */
  name: string;
  /** States in which the command is valid (RFC 3501 3); otherwise BAD. */
  states: SessionState[];
  /** Takes/returns message sequence numbers: no EXPUNGE responses at its end (RFC 3501 7.4.1). */
  usesSequenceNumbers?: boolean;
  capabilities?: Array<string | CapabilitySpec>;
  parse(args: Token[], session: ImapSession): A;
  handle(session: ImapSession, args: A, tag: string, ctx: CommandContext): Promise<void | CommandResult>;
}

/** Identity helper that keeps the argument type of parse() and handle() in step. */
export function defineCommand<A>(spec: CommandSpec<A>): CommandSpec<A> {
  return spec;
}

export class CommandRegistry {
  private readonly byName = new Map<string, CommandSpec<unknown>>();

  register(...specs: Array<CommandSpec<any>>): this {
    for (const spec of specs) {
      if (this.byName.has(spec.name)) throw new Error(`IMAP command ${spec.name} registered twice`);
      this.byName.set(spec.name, spec as CommandSpec<unknown>);
    }
    return this;
  }

  get(name: string): CommandSpec<unknown> | undefined {
    return this.byName.get(name);
  }

  private capabilitySpecs(): CapabilitySpec[] {
    const seen = new Map<string, CapabilitySpec>();
    for (const spec of this.byName.values()) {
      for (const c of spec.capabilities ?? []) {
        const cap = typeof c === 'string' ? { name: c } : c;
        if (!seen.has(cap.name)) seen.set(cap.name, cap);
      }
    }
    return [...seen.values()];
  }

  /** The CAPABILITY list for this session's current state (RFC 3501 7.2.1), IMAP4rev1 first. */
  capabilities(session: ImapSession): string[] {
    const names = this.capabilitySpecs()
      .filter((c) => !c.when || c.when(session))
      .map((c) => c.name);
    return ['IMAP4rev1', ...names];
  }

  /** Can ENABLE turn this capability on? */
  isEnableable(name: string, session: ImapSession): boolean {
    return this.capabilitySpecs().some((c) => c.enableable && c.name === name && (!c.when || c.when(session)));
  }
}
