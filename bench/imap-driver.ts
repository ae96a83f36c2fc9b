// The IMAP load driver shared by the IMAP benchmarks: one raw socket, one
// command at a time, the same bytes sent to Dovecot and to sealmail. It counts
// the bytes received and keeps only the tail of the stream (a 10k-message
// FETCH is never held). Not a benchmark itself (no run()).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export class Driver {
  private tail = '';
  private received = 0;
  private waiter: (() => void) | null = null;
  private seq = 0;
  private closedError: Error | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.received += d.length;
      this.tail = (this.tail + d.toString('latin1')).slice(-512);
      this.waiter?.();
    });
    const fail = (err?: Error) => {
      this.closedError ??= err ?? new Error('connection closed');
      this.waiter?.();
    };
    sock.on('error', fail);
    sock.on('close', () => fail());
  }

  static async open(port: number): Promise<Driver> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.setNoDelay(true);
    const d = new Driver(sock);
    await d.until(/^\* OK/m);
    return d;
  }

  private async until(re: RegExp): Promise<void> {
    while (!re.test(this.tail)) {
      if (this.closedError) throw this.closedError;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    this.waiter = null;
  }

  /**
   * Sends a command (with an optional literal, sent as LITERAL+), waits for
   * its tagged OK; bytes received and milliseconds. A LOGIN that Dovecot
   * answers NO [UNAVAILABLE] (its auth process not ready yet: it failed a
   * whole quiet bench run once) is tried again, a few times.
   */
  async command(text: string, literal?: Buffer): Promise<{ bytes: number; ms: number; tail: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(text, literal);
      } catch (err) {
        if (!/^LOGIN /i.test(text) || !/NO \[UNAVAILABLE\]/.test((err as Error).message) || attempt >= 8) throw err;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }

  private async once(text: string, literal?: Buffer): Promise<{ bytes: number; ms: number; tail: string }> {
    const tag = `Z${++this.seq}Q`;
    this.tail = '';
    const start = this.received;
    const t = performance.now();
    if (literal) {
      this.sock.write(`${tag} ${text} {${literal.length}+}\r\n`);
      this.sock.write(literal);
      this.sock.write('\r\n');
    } else {
      this.sock.write(`${tag} ${text}\r\n`);
    }
    await this.until(new RegExp(`\\r\\n${tag} (OK|NO|BAD)[^\\r]*\\r\\n$|^${tag} (OK|NO|BAD)`, 'm'));
    const ms = performance.now() - t;
    if (!new RegExp(`${tag} OK`).test(this.tail)) throw new Error(`${text}: ${this.tail.slice(-200)}`);
    return { bytes: this.received - start, ms, tail: this.tail };
  }

  close(): void {
    this.sock.destroy();
  }
}

/**
 * Dovecot's INBOX filled by writing the Maildir directly (APPEND fsyncs each
 * message: 10k would take minutes); file names sort in message order, which
 * is the order Dovecot assigns UIDs in on its next sync. Files get the owner
 * of the Maildir so Dovecot can rename them (flags) and delete them (EXPUNGE).
 */
export async function fillMaildir(driver: Driver, maildir: string, messages: Buffer[]): Promise<void> {
  await driver.command('SELECT INBOX'); // creates the Maildir
  const cur = path.join(maildir, 'cur');
  fs.mkdirSync(cur, { recursive: true });
  const owner = fs.statSync(cur);
  messages.forEach((m, i) => {
    const file = path.join(cur, `${1_700_000_000 + i}.M${i}P1.bench:2,`);
    fs.writeFileSync(file, m);
    fs.chownSync(file, owner.uid, owner.gid);
  });
  await driver.command('UNSELECT');
}
