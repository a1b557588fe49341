/** NumPy's .npy format (version 1.0) for a float32 matrix: what numpy.load reads. */
import * as fs from 'node:fs';

/** The .npy bytes of a rows x cols little-endian float32 matrix. */
export function npyBytes(data: Float32Array, rows: number, cols: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n
  const unpadded = 10 + dict.length + 1;
  const header = `${dict + ' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix.writeUInt8(1, 6);
  prefix.writeUInt8(0, 7);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Writes the matrix to `file` through a temporary file renamed into place. */
export function writeNpy(file: string, data: Float32Array, rows: number, cols: number): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, npyBytes(data, rows, cols));
  fs.renameSync(tmp, file);
}
