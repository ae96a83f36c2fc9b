// One client's IMAP session: the state machine of RFC 3501 3 (not
// authenticated -> authenticated <-> selected -> logout), the selected mailbox
// view, ENABLEd extensions, and the delivery of pending mailbox changes at
// legal moments (RFC 3501 5.2, 7.4.1; immediately while IDLE, RFC 2177).
// Command handlers use this API; the transport lives in connection.ts.
import type { Logger } from 'pino';
import type { MailStore, MailboxChange } from '../mail/mailstore.js';
import { no } from './errors.js';
import type { CommandRegistry } from './command.js';
import { untaggedStatus, type Response } from './response/responses.js';
import type { ResponseWriter } from './response/writer.js';
import { SelectedMailbox } from './selected.js';
import { mailboxFromToken, mailboxValue } from './mailbox-names.js';
import type { ImapValue } from './response/values.js';
import type { Token } from './wire/tokens.js';
import type { AuthThrottle } from '../util/auth-throttle.js';

/** Failed LOGIN/AUTHENTICATE attempts on one connection before it is closed. */
const MAX_FAILED_LOGINS = 3;

export type SessionState = 'notAuthenticated' | 'authenticated' | 'selected';

export type PlaintextAuthPolicy = 'always' | 'loopback' | 'never';

/** What the session needs from its connection and server. */
export interface SessionHost {
  writer: ResponseWriter;
  registry: CommandRegistry;
  log: Logger;
  authenticate(user: string, password: string): Promise<MailStore | null>;
  allowPlaintextAuth: PlaintextAuthPolicy;
  /** Pause after a failed login (slows password guessing). */
  failedLoginDelayMs: number;
  /** Shared by all connections: spaces attempts once passwords have been wrong. */
  authThrottle: AuthThrottle;
  isLoopback: boolean;
  isSecure(): boolean;
  /** Is STARTTLS possible now (certificate configured, not yet TLS)? */
  canStartTls(): boolean;
  /** Upgrade the socket to TLS (after the tagged OK of STARTTLS is written). */
  startTls(): Promise<void>;
  /** Read the next raw line from the client (IDLE's DONE, SASL responses). */
  readLine(): Promise<string>;
  /** Close the connection (after LOGOUT). */
  close(): void;
}

export class ImapSession {
  state: SessionState | 'logout' = 'notAuthenticated';
  user: string | null = null;
  selected: SelectedMailbox | null = null;
  /** Extensions turned on with ENABLE (RFC 5161): CONDSTORE, QRESYNC, UTF8=ACCEPT. */
  readonly enabled = new Set<string>();
  /** True while an IDLE command runs: changes are sent at once. */
  idling = false;
  private mailStore: MailStore | null = null;
  private unsubscribe: (() => void) | null = null;
  private idleWaker: (() => void) | null = null;
  private failedLogins = 0;
  /** The mailbox list changed: check at the next flush that the selected mailbox still exists. */
  private mailboxesChanged = false;
  /** Set while SELECT takes its snapshot. */
  private selecting: MailboxChange[] | null = null;

  constructor(readonly host: SessionHost) {}

  get log(): Logger {
    return this.host.log;
  }

  get registry(): CommandRegistry {
    return this.host.registry;
  }

  /** The user's mail store (only after authentication). */
  get store(): MailStore {
    if (!this.mailStore) throw no('Not authenticated');
    return this.mailStore;
  }

  get secure(): boolean {
    return this.host.isSecure();
  }

  get utf8(): boolean {
    return this.enabled.has('UTF8=ACCEPT');
  }

  /** May LOGIN / AUTHENTICATE PLAIN be used on this connection now (RFC 3501 6.2.3, 11.2)? */
  get plaintextAuthAllowed(): boolean {
    if (this.secure) return true;
    const policy = this.host.allowPlaintextAuth;
    return policy === 'always' || (policy === 'loopback' && this.host.isLoopback);
  }

  capabilities(): string[] {
    return this.host.registry.capabilities(this);
  }

  send(...responses: Response[]): Promise<void> {
    return this.host.writer.send(...responses);
  }

  /** Check a password; on success the session is authenticated. Failures wait a moment, then throw NO [AUTHENTICATIONFAILED]. */
  async login(user: string, password: string): Promise<void> {
    await this.host.authThrottle.beforeAttempt();
    const store = await this.host.authenticate(user, password);
    if (!store) {
      this.host.authThrottle.recordFailure();
      this.failedLogins++;
      this.log.info({ user, failures: this.failedLogins }, 'authentication failed');
      await new Promise((resolve) => setTimeout(resolve, this.host.failedLoginDelayMs));
      if (this.failedLogins >= MAX_FAILED_LOGINS) {
        await this.send(untaggedStatus('BYE', 'Too many authentication failures'));
        this.host.close();
      }
      throw no('Authentication failed', 'AUTHENTICATIONFAILED');
    }
    // The connection may have gone while the password was checked: do not subscribe for nobody.
    if (this.state === 'logout') throw no('Connection closed');
    this.mailStore = store;
    this.user = user;
    this.state = 'authenticated';
    this.unsubscribe = store.subscribe((change) => this.onChange(change));
    this.log.info({ user }, 'authenticated');
  }

  /** SELECT/EXAMINE: a fresh view of the mailbox (subscribed before the snapshot, so no change is missed). */
  async select(name: string, readOnly: boolean): Promise<SelectedMailbox> {
    this.unselect();
    // Changes arriving while the snapshot is taken are kept and replayed onto it;
    // the view ignores those the snapshot already contains.
    const early: MailboxChange[] = [];
    this.selecting = early;
    try {
      const { info, messages } = await this.store.messages(name);
      this.selected = new SelectedMailbox(info, messages, readOnly);
    } finally {
      this.selecting = null;
    }
    for (const change of early) this.selected.enqueue(change);
    this.state = 'selected';
    return this.selected;
  }

  /** Leave the selected state without expunging (UNSELECT, failed SELECT, CLOSE after its expunge). */
  unselect(): void {
    if (this.selected) this.selected = null;
    if (this.state === 'selected') this.state = 'authenticated';
  }

  /**
   * Send the pending changes of the selected mailbox that are legal now.
   * `expunges: false` during commands that use sequence numbers (RFC 3501 7.4.1).
   */
  async flushPending(opts: { expunges: boolean }): Promise<void> {
    if (this.mailboxesChanged && this.selected) {
      this.mailboxesChanged = false;
      const id = this.selected.info.id;
      if (!(await this.store.listMailboxes()).some((m) => m.id === id)) {
        // Another session (or device) deleted the selected mailbox: as Dovecot does, disconnect.
        await this.send(untaggedStatus('BYE', 'Selected mailbox was deleted, have to disconnect'));
        this.host.close();
        return;
      }
    }
    if (!this.selected || !this.selected.hasPending()) return;
    const responses = this.selected.drain({
      expunges: opts.expunges,
      condstore: this.enabled.has('CONDSTORE') || this.enabled.has('QRESYNC'),
      qresync: this.enabled.has('QRESYNC'),
    });
    if (responses.length > 0) await this.send(...responses);
  }

  /** Before a command in the selected state: apply other sessions' flag changes to the view (announced after). */
  prepareForCommand(): void {
    this.selected?.applyPendingFlags();
  }

  /** Mailbox argument -> store name (modified UTF-7 decoding unless UTF8=ACCEPT). */
  mailboxArg(token: Token | undefined): string {
    return mailboxFromToken(token, this.utf8);
  }

  /** Store name -> wire value. */
  mailboxValue(name: string): ImapValue {
    return mailboxValue(name, this.utf8);
  }

  readLine(): Promise<string> {
    return this.host.readLine();
  }

  /** IDLE: wait until a change arrives (or `signal` fires). */
  waitForChange(): Promise<void> {
    if (this.selected && (this.selected.hasPending() || this.mailboxesChanged)) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaker = () => {
        this.idleWaker = null;
        resolve();
      };
    });
  }

  /** Wake a pending waitForChange() (IDLE ends or a change arrived). */
  wake(): void {
    this.idleWaker?.();
  }

  private onChange(change: MailboxChange): void {
    if (this.selecting) this.selecting.push(change);
    if (!this.selected) return;
    if (change.kind === 'mailboxes') {
      this.mailboxesChanged = true;
      if (this.idling) this.wake();
      return;
    }
    this.selected.enqueue(change);
    if (this.idling && this.selected.hasPending()) this.wake();
  }

  /** End of the session (LOGOUT or disconnect): stop listening to the store. */
  end(): void {
    this.state = 'logout';
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.selected = null;
    this.wake();
  }
}
