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

/** A bar over a count known in advance (`sealmail import`: messages); null when `stream` is not a terminal. */
export function countProgressBar(label: string, unit: string, total: number, stream: NodeJS.WriteStream = process.stderr): { update(done: number, extra?: string): void; stop(): void } | null {
  if (!stream.isTTY) return null;
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} {extra}`, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { extra: '' });
  return {
    update: (done, extra = '') => bar.update(done, { extra }),
    stop: () => bar.stop(),
  };
}
