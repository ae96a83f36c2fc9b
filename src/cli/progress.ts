// A progress bar on stderr when it is a terminal (cli-progress); nothing
// otherwise, so logs and pipes stay clean.
import cliProgress from 'cli-progress';
import type { PullProgress } from '../daemon/sync-progress.js';

export interface ProgressBar {
  update(p: PullProgress): void;
  stop(): void;
}

export function pullProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar | null {
  if (!stream.isTTY) return null;
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {percentage}% | {value}/{total} documents`, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      // Until the provider has said how much there is, the bar grows with what arrives.
      const total = Math.max(p.total ?? p.pulled, p.pulled, 1);
      if (!started) {
        bar.start(total, p.pulled);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.pulled);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
