import { describe, expect, it } from 'vitest';
import { thrown } from './expect-error';
import { backendInfo, ConfigError, LabelError, NativeError, NonFiniteError, setThreads, ShapeError } from '../lib';
import { type HeadConfig, marginLoss, marginLossAsync } from '../lib/loss/margin-loss';
import { native } from '../lib/native/addon';

const B = 4;
const D = 8;
const C = 6;
const x = () => ({ data: Float32Array.from({ length: B * D }, (_, i) => Math.sin(i + 1)), rows: B, cols: D });
const w = () => ({ data: Float32Array.from({ length: C * D }, (_, i) => Math.cos(i * 0.7)), rows: C, cols: D });
const labels = () => Int32Array.from([0, 1, 2, 5]);

function expectError(fn: () => unknown, cls: abstract new (...args: never[]) => Error, code: string, argument: string) {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(cls);
  expect(e.code).toBe(code);
  expect(e.argument).toBe(argument);
  expect(e.message).toContain(argument);
}

describe('native errors reach JS as MvfaceError and the process goes on', () => {
  it('a failing libtorch call (c10::Error) becomes a NativeError', () => {
    const e = thrown(() => native().nativeErrorProbe());
    expect(e).toBeInstanceOf(NativeError);
    expect(e.code).toBe('E_NATIVE');
    expect(e.message).toMatch(/shapes cannot be multiplied/);
    expect(marginLoss({ type: 'am' }, x(), w(), labels()).loss).toBeGreaterThan(0);
  });

  it('backendInfo reports the build', () => {
    const info = backendInfo();
    expect(info.libtorchVersion).toMatch(/^\d+\.\d+/);
    expect(['LIBTORCH', 'pytorch', 'system']).toContain(info.libtorchSource);
    expect(info.libtorchTag).toMatch(/^torch\d+_\d+_\d+_(libtorch|pytorch|system)_(cpu|cuda)$/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(typeof info.blas).toBe('string');
    expect(info.cudaAvailable).toBe(info.cudaDevices.length > 0);
  });

  it('threads are settable and checked', () => {
    const before = backendInfo().threads;
    setThreads(1);
    expect(backendInfo().threads).toBe(1);
    setThreads(before);
    expectError(() => setThreads(0), ConfigError, 'E_CONFIG', 'threads');
    expectError(() => setThreads(1.5), ConfigError, 'E_CONFIG', 'threads');
  });
});

describe('bad input to marginLoss', () => {
  it('wrong shapes and lengths: E_SHAPE naming the argument', () => {
    expectError(() => marginLoss({ type: 'am' }, { ...x(), rows: 5 }, w(), labels()), ShapeError, 'E_SHAPE', 'embeddings');
    expectError(() => marginLoss({ type: 'am' }, x(), { data: new Float32Array(C * 7), rows: C, cols: 7 }, labels()), ShapeError, 'E_SHAPE', 'weight');
    expectError(() => marginLoss({ type: 'am' }, x(), w(), Int32Array.from([0, 1])), ShapeError, 'E_SHAPE', 'labels');
    expectError(
      () => marginLoss({ type: 'am' }, { data: new Float64Array(B * D), rows: B, cols: D } as never, w(), labels()),
      ShapeError,
      'E_SHAPE',
      'embeddings',
    );
    expectError(() => marginLoss({ type: 'am' }, { ...x(), cols: -1 }, w(), labels()), ShapeError, 'E_SHAPE', 'embeddings');
  });

  it('labels out of range or not integers: E_LABEL', () => {
    expectError(() => marginLoss({ type: 'am' }, x(), w(), Int32Array.from([0, 1, 2, 6])), LabelError, 'E_LABEL', 'labels');
    expectError(() => marginLoss({ type: 'am' }, x(), w(), Int32Array.from([0, -1, 2, 3])), LabelError, 'E_LABEL', 'labels');
    expectError(() => marginLoss({ type: 'am' }, x(), w(), [0, 1.5, 2, 3] as never), LabelError, 'E_LABEL', 'labels');
  });

  it('NaN or Inf in embeddings or weights: E_NONFINITE', () => {
    const bad = x();
    bad.data[3] = NaN;
    expectError(() => marginLoss({ type: 'arc' }, bad, w(), labels()), NonFiniteError, 'E_NONFINITE', 'embeddings');
    const badW = w();
    badW.data[10] = Infinity;
    expectError(() => marginLoss({ type: 'mv-am' }, x(), badW, labels()), NonFiniteError, 'E_NONFINITE', 'weight');
    expectError(() => marginLoss({ type: 'softmax' }, x(), badW, labels()), NonFiniteError, 'E_NONFINITE', 'weight');
  });

  it('unknown types and options out of the SPEC range: E_CONFIG naming the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ type: 'cosface' }, 'type'],
      [{ type: 'am', scale: 0 }, 'scale'],
      [{ type: 'arc', scale: -3 }, 'scale'],
      [{ type: 'am', margin: -0.1 }, 'margin'],
      [{ type: 'arc', margin: 2 }, 'margin'],
      [{ type: 'mv-am', mode: 'fixed', t: -0.1 }, 't'],
      [{ type: 'mv-arc', mode: 'adaptive', t: 0.9 }, 't'],
      [{ type: 'mv-arc', mode: 'sometimes' }, 'mode'],
      [{ type: 'sphereface', m: 2.5 }, 'm'],
      [{ type: 'sphereface', m: 9 }, 'm'],
      [{ type: 'combined', m1: 0.5 }, 'm1'],
      [{ type: 'am', mining: { type: 'hm', ratio: 0 } }, 'ratio'],
      [{ type: 'focal', gamma: -1 }, 'gamma'],
      [{ type: 'am', scale: '32' }, 'scale'],
    ];
    for (const [config, option] of cases) {
      expectError(() => marginLoss(config as HeadConfig, x(), w(), labels()), ConfigError, 'E_CONFIG', option);
    }
  });

  it('async calls reject with the same typed errors', async () => {
    await expect(marginLossAsync({ type: 'am' }, x(), w(), Int32Array.from([0, 1, 2, 9]))).rejects.toMatchObject({ code: 'E_LABEL', argument: 'labels' });
    const bad = w();
    bad.data[0] = NaN;
    await expect(marginLossAsync({ type: 'am' }, x(), bad, labels())).rejects.toBeInstanceOf(NonFiniteError);
  });
});
