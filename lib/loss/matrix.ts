import { createError } from '../errors';

/** A row-major matrix: `data[r * cols + c]`. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export function matrix(rows: number, cols: number, data?: Float32Array): Matrix {
  return { data: data ?? new Float32Array(rows * cols), rows, cols };
}

/** Labels as an Int32Array; other arrays are accepted when every entry is an integer. */
export function toLabels(labels: ArrayLike<number>, argument = 'labels'): Int32Array {
  if (labels instanceof Int32Array) return labels;
  if (labels == null || typeof (labels as ArrayLike<number>).length !== 'number') {
    throw createError('E_LABEL', `${argument}: must be an Int32Array`, argument);
  }
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw createError('E_LABEL', `${argument}: entry ${i} is ${v}, not an integer`, argument);
    }
    out[i] = v;
  }
  return out;
}
