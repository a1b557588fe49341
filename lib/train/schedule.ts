/** Learning-rate schedules, as a pure function of the step. */
import { scheduleDefaults } from '../config/defaults';
import { createError } from '../errors';

export type Schedule =
  /** lr * gamma^(milestones passed); milestones in epochs. */
  | { type: 'multistep'; milestones: number[]; gamma?: number }
  /** Cosine from lr down to minLr (default 0) over the steps after warm-up. */
  | { type: 'cosine'; minLr?: number }
  /** lr * (1 - progress)^power, arcface_torch's PolyScheduler (power 2). */
  | { type: 'poly'; power?: number }
  | { type: 'constant' };

export interface ScheduleSettings {
  schedule: Schedule;
  lr: number;
  warmupEpochs: number;
  stepsPerEpoch: number;
  epochs: number;
}

export function checkSchedule(s: ScheduleSettings): void {
  const bad = (option: string, message: string) => createError('E_CONFIG', `${option}: ${message}`, option);
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw bad('lr', 'must be a finite number > 0');
  if (!(s.warmupEpochs >= 0) || s.warmupEpochs >= s.epochs) throw bad('warmupEpochs', 'must be in [0, epochs)');
  const type = (s.schedule as { type?: unknown })?.type;
  if (!['multistep', 'cosine', 'poly', 'constant'].includes(String(type))) {
    throw bad('schedule', `unknown schedule '${String(type)}' (expected multistep, cosine, poly or constant)`);
  }
  if (s.schedule.type === 'multistep') {
    const m = s.schedule.milestones;
    if (!Array.isArray(m) || m.some((e, i) => !(e > 0) || (i > 0 && e <= m[i - 1]))) {
      throw bad('milestones', 'must be increasing epochs > 0');
    }
  }
}

/** The learning rate of step `step` (0-based): linear warm-up, then the schedule. */
export function learningRate(s: ScheduleSettings, step: number): number {
  const warmup = Math.round(s.warmupEpochs * s.stepsPerEpoch);
  if (step < warmup) return (s.lr * (step + 1)) / warmup;
  const total = s.epochs * s.stepsPerEpoch;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  switch (s.schedule.type) {
    case 'multistep': {
      const passed = s.schedule.milestones.filter((m) => step >= m * s.stepsPerEpoch).length;
      return s.lr * (s.schedule.gamma ?? scheduleDefaults.gamma) ** passed;
    }
    case 'cosine': {
      const min = s.schedule.minLr ?? scheduleDefaults.minLr;
      return min + ((s.lr - min) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
    case 'poly':
      return s.lr * (1 - progress) ** (s.schedule.power ?? scheduleDefaults.power);
    default:
      return s.lr;
  }
}
