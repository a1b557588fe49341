import { describe, expect, it } from 'vitest';
import { checkSchedule, learningRate, type ScheduleSettings } from '../lib/train/schedule';

const base = (schedule: ScheduleSettings['schedule'], warmupEpochs = 0): ScheduleSettings => ({
  schedule,
  lr: 0.1,
  warmupEpochs,
  stepsPerEpoch: 10,
  epochs: 10,
});

describe('learning-rate schedules', () => {
  it('multistep divides by gamma at each milestone epoch', () => {
    const s = base({ type: 'multistep', milestones: [4, 8], gamma: 0.1 });
    expect(learningRate(s, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 39)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 40)).toBeCloseTo(0.01, 12);
    expect(learningRate(s, 80)).toBeCloseTo(0.001, 12);
  });

  it('cosine goes from lr to minLr, through the midpoint at half way', () => {
    const s = base({ type: 'cosine', minLr: 0.001 });
    expect(learningRate(s, 0)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 50)).toBeCloseTo((0.1 + 0.001) / 2, 12);
    expect(learningRate(s, 100)).toBeCloseTo(0.001, 12);
  });

  it('poly is lr (1 - progress)^power', () => {
    const s = base({ type: 'poly', power: 2 });
    expect(learningRate(s, 25)).toBeCloseTo(0.1 * 0.75 ** 2, 12);
  });

  it('warm-up rises linearly, then the schedule starts from lr', () => {
    const s = base({ type: 'cosine' }, 2);
    expect(learningRate(s, 0)).toBeCloseTo(0.1 / 20, 12);
    expect(learningRate(s, 9)).toBeCloseTo(0.05, 12);
    expect(learningRate(s, 20)).toBeCloseTo(0.1, 12);
    expect(learningRate(s, 19)).toBeLessThan(learningRate(s, 20) + 1e-12);
  });

  it('rejects bad settings', () => {
    expect(() => checkSchedule(base({ type: 'multistep', milestones: [5, 3] }))).toThrow(/milestones/);
    expect(() => checkSchedule({ ...base({ type: 'cosine' }), lr: -1 })).toThrow(/lr/);
    expect(() => checkSchedule(base({ type: 'step' } as never))).toThrow(/schedule/);
    expect(() => checkSchedule(base({ type: 'cosine' }, 10))).toThrow(/warmupEpochs/);
  });
});
