/** Training progress for people: a bar on a TTY, a line every few percent otherwise. */
import { SingleBar } from 'cli-progress';
import type { EpochInfo, StepInfo } from '../train/trainer';

export interface Progress {
  step(s: StepInfo): void;
  epoch(e: EpochInfo): void;
  stop(): void;
}

function fixed(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = Boolean(stream.isTTY);
  const bar = new SingleBar({
    stream,
    format: 'epoch {epoch} |{bar}| {percentage}% {value}/{total} | loss {loss} | lr {lr} | hard {hard} | {sps} samples/s | ETA {eta_formatted}',
    hideCursor: true,
    etaBuffer: 50,
    noTTYOutput: false,
  });
  let started = false;
  let lastPrinted = -1;
  return {
    step(s) {
      const payload = { epoch: s.epoch + 1, loss: fixed(s.loss, 3), lr: fixed(s.lr, 4), hard: fixed(s.hardFraction, 3), sps: fixed(s.samplesPerSecond, 0) };
      if (tty) {
        if (!started) {
          bar.start(s.totalSteps, s.step, payload);
          started = true;
        }
        bar.update(s.step, payload);
        return;
      }
      const percent = Math.floor((100 * s.step) / s.totalSteps);
      if (percent >= lastPrinted + 5 || s.step === s.totalSteps) {
        lastPrinted = percent;
        stream.write(
          `step ${s.step}/${s.totalSteps} (${percent}%) epoch ${payload.epoch} loss ${payload.loss} lr ${payload.lr} hard ${payload.hard} ${payload.sps} samples/s\n`,
        );
      }
    },
    epoch(e) {
      const acc = e.closedSetAccuracy === undefined ? '' : ` closed-set accuracy ${fixed(e.closedSetAccuracy, 4)}`;
      const line = `epoch ${e.epoch + 1} done: mean loss ${fixed(e.meanLoss, 4)}, ${fixed(e.samplesPerSecond, 0)} samples/s${acc}\n`;
      if (tty && started) {
        bar.stop();
        started = false;
      }
      stream.write(line);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
