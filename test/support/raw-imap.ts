// A tiny raw IMAP client for differential tests: it sends exactly what it is
// given and hands back every untagged response as the exact bytes received,
// literals included (RFC 3501 4.3), so tests can compare servers byte by byte.
// Also a minimal response-value parser (atoms, strings, literals, lists).
import net from 'node:net';

export interface CommandResult {
  /** The tagged completion line without the tag and CRLF, e.g. "OK Fetch completed." */
  tagged: string;
  /** Each untagged response ("* ..."), byte-exact, without its final CRLF. */
  untagged: Buffer[];
}

/** One response, assembled from lines and literals. */
interface Pending {
  tag: string;
  untagged: Buffer[];
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  /** Waiting for "+" continuations (synchronizing literals). */
  onContinue?: () => void;
}

const LITERAL_AT_END = /~?\{(\d+)\+?\}$/;

export class RawImapClient {
  private buf = Buffer.alloc(0);
  /** Parts of the response being assembled (line + literals). */
  private parts: Buffer[] = [];
  /** Bytes of literal still expected before the response line continues. */
  private literalLeft = -1;
  private pending: Pending | null = null;
  private tagSeq = 0;
  private closed = false;
  private greetingWaiter: { resolve: (g: string) => void; reject: (e: Error) => void } | null = null;
  /** The server greeting line. */
  greeting = '';
  /** Untagged responses that arrived with no command in flight. */
  readonly unsolicited: Buffer[] = [];

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => {
      this.closed = true;
      this.fail(new Error('connection closed'));
    });
  }

  static async connect(host: string, port: number): Promise<RawImapClient> {
    const sock = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const client = new RawImapClient(sock);
    client.greeting = await new Promise<string>((resolve, reject) => (client.greetingWaiter = { resolve, reject }));
    return client;
  }

  private fail(e: Error): void {
    this.greetingWaiter?.reject(e);
    this.greetingWaiter = null;
    const p = this.pending;
    this.pending = null;
    p?.reject(e);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.literalLeft >= 0) {
        if (this.buf.length < this.literalLeft) return;
        this.parts.push(this.buf.subarray(0, this.literalLeft));
        this.buf = this.buf.subarray(this.literalLeft);
        this.literalLeft = -1;
        continue;
      }
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.buf.subarray(0, eol);
      this.buf = this.buf.subarray(eol + 2);
      const m = LITERAL_AT_END.exec(line.toString('latin1'));
      if (m) {
        this.parts.push(line, Buffer.from('\r\n'));
        this.literalLeft = Number(m[1]);
        continue;
      }
      this.parts.push(line);
      const response = Buffer.concat(this.parts);
      this.parts = [];
      this.onResponse(response);
    }
  }

  private onResponse(response: Buffer): void {
    const text = response.toString('latin1');
    if (this.greetingWaiter) {
      const w = this.greetingWaiter;
      this.greetingWaiter = null;
      w.resolve(text);
      return;
    }
    const p = this.pending;
    if (text.startsWith('+')) {
      const cont = p?.onContinue;
      if (p) p.onContinue = undefined;
      cont?.();
      return;
    }
    if (text.startsWith('* ')) {
      (p ? p.untagged : this.unsolicited).push(response);
      return;
    }
    if (p && text.startsWith(p.tag + ' ')) {
      this.pending = null;
      p.resolve({ tagged: text.slice(p.tag.length + 1), untagged: p.untagged });
    }
  }

  /**
   * Sends one command (without tag). Each "{}" in `text` is replaced by a
   * synchronizing literal carrying the next buffer of `literals`.
   */
  async command(text: string, literals: Buffer[] = []): Promise<CommandResult> {
    if (this.pending) throw new Error('one command at a time');
    if (this.closed) throw new Error('connection closed');
    const tag = `T${++this.tagSeq}`;
    const pieces = text.split('{}');
    if (pieces.length - 1 !== literals.length) throw new Error('literal placeholders do not match literals');
    const done = new Promise<CommandResult>((resolve, reject) => {
      this.pending = { tag, untagged: [], resolve, reject };
    });
    let out = `${tag} ${pieces[0]}`;
    for (let i = 0; i < literals.length; i++) {
      const lit = literals[i]!;
      const p = this.pending!;
      const cont = new Promise<void>((resolve) => (p.onContinue = resolve));
      this.sock.write(`${out}{${lit.length}}\r\n`, 'latin1');
      await Promise.race([cont, done]);
      if (!this.pending) return done;
      this.sock.write(lit);
      out = pieces[i + 1]!;
    }
    this.sock.write(`${out}\r\n`, 'latin1');
    return done;
  }

  /**
   * IDLE (RFC 2177): waits for the "+" continuation, stays idle for `ms`,
   * then sends DONE. The untagged responses received while idle are the result's.
   */
  async idle(ms: number): Promise<CommandResult> {
    if (this.pending) throw new Error('one command at a time');
    if (this.closed) throw new Error('connection closed');
    const tag = `T${++this.tagSeq}`;
    const done = new Promise<CommandResult>((resolve, reject) => {
      this.pending = { tag, untagged: [], resolve, reject };
    });
    const p = this.pending!;
    const cont = new Promise<void>((resolve) => (p.onContinue = resolve));
    this.sock.write(`${tag} IDLE\r\n`, 'latin1');
    await Promise.race([cont, done]);
    if (this.pending !== p) return done; // refused without a continuation
    await new Promise((r) => setTimeout(r, ms));
    if (!this.closed) this.sock.write('DONE\r\n', 'latin1');
    return done;
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (!r.tagged.startsWith('OK')) throw new Error(`LOGIN failed: ${r.tagged}`);
  }

  /** APPENDs one message; returns the tagged line (with APPENDUID if offered). */
  async append(mailbox: string, raw: Buffer, flags: string[] = []): Promise<string> {
    const flagList = flags.length ? `(${flags.join(' ')}) ` : '';
    const r = await this.command(`APPEND ${quote(mailbox)} ${flagList}{}`, [raw]);
    if (!r.tagged.startsWith('OK')) throw new Error(`APPEND failed: ${r.tagged}`);
    return r.tagged;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await Promise.race([this.command('LOGOUT'), new Promise((r) => setTimeout(r, 1000))]);
    } catch {
      // the server may close before the tagged OK arrives
    }
    this.sock.destroy();
    this.closed = true;
  }
}

export function connect(host: string, port: number): Promise<RawImapClient> {
  return RawImapClient.connect(host, port);
}

/** An IMAP quoted string (RFC 3501 9 "quoted"). */
export function quote(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

// ---- response values ----

/** A parsed IMAP response value: atom/NIL as string, string/literal as Buffer, list as array. */
export type ImapValue = string | Buffer | null | ImapValue[];

/** Parses values from `buf` starting at `pos` until the end or a closing ")" of the caller. */
export function parseValues(buf: Buffer, pos = 0): { values: ImapValue[]; end: number } {
  const values: ImapValue[] = [];
  while (pos < buf.length) {
    const c = buf[pos]!;
    if (c === 0x20) {
      pos++;
    } else if (c === 0x29 /* ) */) {
      return { values, end: pos };
    } else if (c === 0x28 /* ( */) {
      const inner = parseValues(buf, pos + 1);
      values.push(inner.values);
      pos = inner.end + 1;
    } else if (c === 0x22 /* " */) {
      const bytes: number[] = [];
      pos++;
      while (pos < buf.length && buf[pos] !== 0x22) {
        if (buf[pos] === 0x5c) pos++;
        bytes.push(buf[pos]!);
        pos++;
      }
      values.push(Buffer.from(bytes));
      pos++;
    } else if (c === 0x7b /* { */ || (c === 0x7e /* ~ */ && buf[pos + 1] === 0x7b)) {
      const close = buf.indexOf('}', pos);
      const n = Number(buf.subarray(buf.indexOf('{', pos) + 1, close).toString('latin1').replace('+', ''));
      const start = close + 3; // "}\r\n"
      values.push(buf.subarray(start, start + n));
      pos = start + n;
    } else {
      // atom, possibly with a [section] and <partial> (e.g. BODY[1.MIME]<0>)
      let end = pos;
      let depth = 0;
      while (end < buf.length) {
        const b = buf[end]!;
        if (b === 0x5b) depth++;
        else if (b === 0x5d) depth--;
        else if (depth === 0 && (b === 0x20 || b === 0x28 || b === 0x29)) break;
        end++;
      }
      const atom = buf.subarray(pos, end).toString('latin1');
      values.push(atom.toUpperCase() === 'NIL' ? null : atom);
      pos = end;
    }
  }
  return { values, end: pos };
}

/**
 * Splits an untagged FETCH response ("* n FETCH (NAME value NAME value ...)")
 * into its items: the upper-cased item name (e.g. "BODY[1.MIME]") and the
 * exact bytes of its value as sent (quoted string, literal, list or atom).
 */
export function fetchItems(response: Buffer): Map<string, { raw: Buffer; value: ImapValue }> {
  const open = response.indexOf('(');
  const items = new Map<string, { raw: Buffer; value: ImapValue }>();
  let pos = open + 1;
  while (pos < response.length && response[pos] !== 0x29) {
    if (response[pos] === 0x20) {
      pos++;
      continue;
    }
    const nameEnd = scanOne(response, pos);
    const name = response.toString('latin1', pos, nameEnd);
    const valueStart = nameEnd + 1;
    const valueEnd = scanOne(response, valueStart);
    const raw = response.subarray(valueStart, valueEnd);
    items.set(name.toUpperCase(), { raw, value: parseValues(raw).values[0] ?? null });
    pos = valueEnd;
  }
  return items;
}

/** End offset of the single value starting at `pos`. */
function scanOne(buf: Buffer, pos: number): number {
  const c = buf[pos]!;
  if (c === 0x28) {
    let depth = 0;
    let i = pos;
    while (i < buf.length) {
      const b = buf[i]!;
      if (b === 0x22) {
        i = scanOne(buf, i);
        continue;
      }
      if (b === 0x7b || (b === 0x7e && buf[i + 1] === 0x7b)) {
        i = scanOne(buf, i);
        continue;
      }
      if (b === 0x28) depth++;
      if (b === 0x29 && --depth === 0) return i + 1;
      i++;
    }
    return i;
  }
  if (c === 0x22) {
    let i = pos + 1;
    while (i < buf.length && buf[i] !== 0x22) i += buf[i] === 0x5c ? 2 : 1;
    return i + 1;
  }
  if (c === 0x7b || (c === 0x7e && buf[pos + 1] === 0x7b)) {
    const close = buf.indexOf('}', pos);
    const n = Number(buf.subarray(buf.indexOf('{', pos) + 1, close).toString('latin1').replace('+', ''));
    return close + 3 + n;
  }
  let i = pos;
  let depth = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b === 0x5b) depth++;
    else if (b === 0x5d) depth--;
    else if (depth === 0 && (b === 0x20 || b === 0x28 || b === 0x29)) break;
    i++;
  }
  // (an atom such as BODY[1.MIME]<0> keeps its [section] and <origin>)
  return i;
}
