// A raw TCP client for exact protocol checks: write bytes, then wait until
// the text received matches a pattern. The IMAP and SMTP raw clients of the
// tests build their commands on it.
import net from 'node:net';

export class RawSocket {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  protected constructor(
    readonly socket: net.Socket,
    private readonly defaultTimeoutMs: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** A connected socket to 127.0.0.1:port. */
  protected static async connect(port: number): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return socket;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Everything received up to the end of the first match of `re`, consumed. */
  async readUntil(re: RegExp, timeoutMs = this.defaultTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.buf);
      if (m) {
        const end = m.index + m[0].length;
        const out = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        return out;
      }
      if (this.closed) throw new Error(`connection closed; got: ${JSON.stringify(this.buf.slice(0, 2000))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${re}; got: ${JSON.stringify(this.buf.slice(0, 2000))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Everything received and not yet consumed. */
  pending(): string {
    return this.buf;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
