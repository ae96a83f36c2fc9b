// A minimal raw SMTP client for tests that need exact control over the
// dialogue (no SIZE parameter, arbitrary bytes in DATA, disconnects).
import net from 'node:net';

export class RawSmtp {
  private buffer = '';
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.buffer += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(port: number): Promise<RawSmtp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RawSmtp(socket);
    await c.reply();
    return c;
  }

  /** Reads one (possibly multi-line) reply; returns its code and full text. */
  async reply(): Promise<{ code: number; text: string }> {
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*(\d{3}) [^\n]*\n/.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice(m[0].length);
        return { code: Number(m[1]), text: m[0] };
      }
      if (this.socket.destroyed) throw new Error('connection closed');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async command(line: string): Promise<{ code: number; text: string }> {
    this.socket.write(line + '\r\n');
    return this.reply();
  }

  /** DATA with already dot-stuffed bytes ending in CRLF; returns the final reply. */
  async data(stuffed: Buffer | string): Promise<{ code: number; text: string }> {
    const go = await this.command('DATA');
    if (go.code !== 354) return go;
    this.socket.write(stuffed);
    this.socket.write('.\r\n');
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}
