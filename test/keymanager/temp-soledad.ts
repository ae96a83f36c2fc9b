// Real Soledad stores (LevelDB in temp dirs, small scrypt parameters) for the
// keymanager and SMTP tests; closeAll() closes them and removes the dirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Soledad } from '../../src/soledad/index.js';

export class TempSoledads {
  private readonly open: Array<{ sol: Soledad; dir: string }> = [];

  async create(): Promise<Soledad> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
    const sol = await Soledad.create({ dataDir: dir, passphrase: 'test', kdf: { N: 2 ** 10, r: 8, p: 1 } });
    this.open.push({ sol, dir });
    return sol;
  }

  async closeAll(): Promise<void> {
    for (const { sol, dir } of this.open.splice(0)) {
      await sol.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
