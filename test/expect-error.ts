import { expect } from 'vitest';
import { MvfaceError } from '../lib/errors';

/** Runs fn and returns the MvfaceError it throws; fails the test otherwise. */
export function thrown(fn: () => unknown): MvfaceError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MvfaceError);
    return e as MvfaceError;
  }
  throw new Error('expected an MvfaceError, nothing was thrown');
}
