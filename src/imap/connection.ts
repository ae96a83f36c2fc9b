// One client connection: socket <-> parser <-> dispatcher <-> writer.
// Commands are executed strictly one after another (pipelined input is parsed
// ahead and queued); the dispatcher checks the state, parses arguments, runs
// the handler, flushes pending mailbox changes that are legal at that point
// and writes the tagged result. Errors end the command, never the session:
// ImapError -> its NO/BAD, MailStoreError -> NO [code], a full disk -> NO
// [OVERQUOTA], anything else -> NO [SERVERBUG] (logged with context, no
// stack to the client).
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { finished } from 'node:stream/promises';
import type { Logger } from 'pino';
import { MailStoreError, type MailStore } from '../mail/mailstore.js';
import { ImapError, fromMailStoreError } from './errors.js';
import type { CommandRegistry, CommandResult } from './command.js';
import { CommandParser, type LiteralStream, type ParserEvent } from './wire/parser.js';
import type { ParsedCommand } from './wire/tokens.js';
import { ResponseWriter } from './response/writer.js';
import { continuation, tagged, untaggedStatus } from './response/responses.js';
import { atom } from './response/values.js';
import { ImapSession, type PlaintextAuthPolicy } from './session.js';
import type { AuthThrottle } from '../util/auth-throttle.js';

export interface ConnectionOptions {
  registry: CommandRegistry;
  authenticate(user: string, password: string): Promise<MailStore | null>;
  allowPlaintextAuth: PlaintextAuthPolicy;
  secureContext: SecureContext | null;
  maxLiteralSize: number;
  idleTimeoutMs: number;
  /** Inactivity allowed before authentication (shorter: an idle anonymous connection only costs). */
  preAuthTimeoutMs: number;
  failedLoginDelayMs: number;
  authThrottle: AuthThrottle;
  /** Consecutive BAD commands before the server says BYE. */
  maxBadCommands: number;
  log: Logger;
}

/** Above this many parsed-but-unexecuted commands, stop reading the socket. */
const MAX_QUEUED = 32;

export class ImapConnection {
  readonly session: ImapSession;
  private socket: Socket;
  private parser: CommandParser;
  private readonly writer: ResponseWriter;
  private readonly queue: ParserEvent[] = [];
  private running = false;
  private badCount = 0;
  private closing = false;
  private tls = false;
  private readonly pauses = new Set<string>();
  private lineWaiter: { resolve(line: string): void; reject(err: Error): void } | null = null;
  private readonly log: Logger;
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  constructor(socket: Socket, private readonly opts: ConnectionOptions) {
    this.socket = socket;
    this.log = opts.log;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.writer = new ResponseWriter(socket);
    const isLoopback = /^(127\.|::1$|::ffff:127\.)/.test(socket.remoteAddress ?? '');
    this.session = new ImapSession({
      writer: this.writer,
      registry: opts.registry,
      log: opts.log,
      authenticate: opts.authenticate,
      allowPlaintextAuth: opts.allowPlaintextAuth,
      failedLoginDelayMs: opts.failedLoginDelayMs,
      authThrottle: opts.authThrottle,
      isLoopback,
      isSecure: () => this.tls,
      canStartTls: () => !this.tls && opts.secureContext !== null,
      startTls: () => this.upgradeTls(),
      readLine: () => this.readLine(),
      close: () => this.close(),
    });
    this.parser = this.newParser();
    this.attach(socket);
  }

  /** Send the greeting (RFC 3501 7.1.1). */
  async start(): Promise<void> {
    const caps = this.session.capabilities().map(atom);
    await this.writer.send(untaggedStatus('OK', 'sealmail ready', { name: 'CAPABILITY', args: caps }));
  }

  /** Server shutdown: BYE, then close. */
  async shutdown(text = 'Server shutting down'): Promise<void> {
    if (this.closing) return;
    await Promise.race([this.writer.send(untaggedStatus('BYE', text)), new Promise((r) => setTimeout(r, 200))]);
    this.close();
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.parser.close();
    this.session.end();
    this.lineWaiter?.reject(new Error('connection closed'));
    this.lineWaiter = null;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private newParser(): CommandParser {
    return new CommandParser({
      maxAppendLiteral: this.opts.maxLiteralSize,
      onEvent: (ev) => this.onParserEvent(ev),
      onContinue: (text) => void this.writer.send(continuation(text)).catch(() => undefined),
      pause: () => this.pause('parser'),
      resume: () => this.resume('parser'),
    });
  }

  private attach(socket: Socket): void {
    // Responses go out as several writes (untagged data, then the tagged line): without this,
    // Nagle's algorithm meets the client's delayed ACK and each command waits ~40 ms.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.parser.feed(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => {
      this.close();
      this.markClosed();
    });
    const timeout = this.session.state === 'notAuthenticated' ? this.opts.preAuthTimeoutMs : this.opts.idleTimeoutMs;
    socket.setTimeout(timeout, () => void this.shutdown('Autologout; idle for too long').catch(() => this.close()));
  }

  private pause(reason: string): void {
    this.pauses.add(reason);
    this.socket.pause();
  }

  private resume(reason: string): void {
    this.pauses.delete(reason);
    if (this.pauses.size === 0 && !this.closing) this.socket.resume();
  }

  private onParserEvent(ev: ParserEvent): void {
    if (ev.kind === 'line') {
      const waiter = this.lineWaiter;
      this.lineWaiter = null;
      waiter?.resolve(ev.text);
      return;
    }
    this.queue.push(ev);
    if (this.queue.length > MAX_QUEUED) this.pause('queue');
    void this.runQueue();
  }

  private readLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(new Error('connection closed'));
      this.lineWaiter = { resolve, reject };
      this.parser.expectLine();
    });
  }

  private async runQueue(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closing) {
        const ev = this.queue.shift()!;
        if (this.queue.length <= MAX_QUEUED / 2) this.resume('queue');
        await this.handleEvent(ev);
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'connection failed');
      this.close();
    } finally {
      this.running = false;
    }
  }

  private async handleEvent(ev: ParserEvent): Promise<void> {
    if (ev.kind === 'fatal') {
      await this.writer.send(untaggedStatus('BYE', ev.error.text));
      this.close();
    } else if (ev.kind === 'error') {
      await this.writer.send(tagged(ev.tag, ev.error.status, ev.error.text, ev.error.code ? { name: ev.error.code } : undefined));
      await this.countBad(ev.error.status === 'BAD');
    } else if (ev.kind === 'command') {
      await this.dispatch(ev.command, ev.literal);
    }
  }

  private async countBad(isBad: boolean): Promise<void> {
    this.badCount = isBad ? this.badCount + 1 : 0;
    if (this.badCount >= this.opts.maxBadCommands) {
      await this.writer.send(untaggedStatus('BYE', 'Too many invalid commands'));
      this.close();
    }
  }

  private async dispatch(cmd: ParsedCommand, literal?: LiteralStream): Promise<void> {
    const session = this.session;
    const wasAuthenticated = session.state !== 'notAuthenticated';
    const spec = this.opts.registry.get(cmd.name);
    let result: CommandResult | void = undefined;
    let failure: ImapError | null = null;
    const started = Date.now();
    try {
      if (!spec) throw new ImapError('BAD', `Unknown command ${cmd.name.slice(0, 40)}`);
      if (session.state === 'logout' || !spec.states.includes(session.state)) {
        throw new ImapError('BAD', `${cmd.name} not allowed in ${session.state} state`);
      }
      const args = spec.parse(cmd.args, session);
      // The command works on current flags (a FETCH returns what another session just set, as in
      // Dovecot); new messages and expunges are announced after it, at the flush below.
      session.prepareForCommand();
      result = await spec.handle(session, args, cmd.tag, { literal });
    } catch (err) {
      failure = this.toImapError(err, cmd);
    }
    if (literal) {
      literal.reject(); // never accepted: the client sends no data (no-op once accepted)
      if (!literal.readableEnded && !literal.destroyed) {
        // Discard what the handler did not read, so the connection goes on. A handler that read
        // through an async iterator and stopped early (the store failed mid-message, e.g. a full
        // disk) left its 'readable' listener, and while one is attached resume() does nothing:
        // the literal never ended and the command hung. Drop it first.
        literal.removeAllListeners('readable');
        literal.resume();
        await finished(literal).catch(() => undefined);
      }
    }
    if (this.closing) return;
    if (!wasAuthenticated && session.state === 'authenticated') this.socket.setTimeout(this.opts.idleTimeoutMs);
    if (session.state === 'selected' && failure?.status !== 'BAD') {
      // Announcing other sessions' changes is best effort: the command's own result still goes out.
      await session.flushPending({ expunges: !spec?.usesSequenceNumbers }).catch((err: Error) => this.log.error({ err: err.message }, 'could not announce mailbox changes'));
    }
    if (failure) {
      const code = failure.code ? { name: failure.code, args: failure.codeArgs ? [atom(failure.codeArgs)] : undefined } : undefined;
      await this.writer.send(tagged(cmd.tag, failure.status, failure.text, code));
    } else {
      await this.writer.send(tagged(cmd.tag, 'OK', result?.text ?? `${cmd.name} completed`, result?.code));
    }
    this.log.debug({ command: cmd.name, ms: Date.now() - started, status: failure?.status ?? 'OK' }, 'command');
    // afterResponse first: STARTTLS must replace the parser before buffered plaintext could be parsed.
    await result?.afterResponse?.();
    if (!this.closing) this.parser.release();
    await this.countBad(failure?.status === 'BAD');
  }

  private toImapError(err: unknown, cmd: ParsedCommand): ImapError {
    if (err instanceof ImapError) return err;
    // A command cut short by the connection closing (IDLE waiting for DONE, an APPEND upload) is no server bug.
    if (this.closing) return new ImapError('NO', 'Connection closed');
    if (err instanceof MailStoreError) {
      if (err.code === 'CORRUPTION') this.log.error({ command: cmd.name, err: err.message }, 'store corruption');
      return fromMailStoreError(err);
    }
    // The store's disk is full (LevelDB "IO error: ...: No space left on device"): as Dovecot answers, OVERQUOTA (RFC 5530 3).
    if (/No space left on device|ENOSPC/i.test((err as Error)?.message ?? '')) {
      this.log.warn({ command: cmd.name, user: this.session.user, err: (err as Error).message }, 'disk full');
      return new ImapError('NO', 'Not enough disk space', 'OVERQUOTA');
    }
    this.log.error({ command: cmd.name, user: this.session.user, err: (err as Error)?.message, stack: (err as Error)?.stack }, 'internal error');
    return new ImapError('NO', 'Internal server error', 'SERVERBUG');
  }

  /** STARTTLS (RFC 3501 6.2.1): drop buffered plaintext, wrap the socket, parse afresh. */
  private async upgradeTls(): Promise<void> {
    const context = this.opts.secureContext;
    if (!context) throw new Error('no TLS context');
    await this.writer.flushed();
    this.parser.close();
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.setTimeout(0);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
    this.socket = secure;
    this.writer.setOutput(secure);
    this.parser = this.newParser();
    this.tls = true;
    this.attach(secure);
    await new Promise<void>((resolve) => {
      secure.once('secure', () => resolve());
      secure.once('error', () => resolve());
      secure.once('close', () => resolve());
    });
  }
}
