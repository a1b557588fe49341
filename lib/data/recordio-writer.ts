/**
 * Writing InsightFace RecordIO sets (train.rec, train.idx, property), as MXNet's recordio module
 * does: for benchmarks and tests, which need sets of known content.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * MXNet's pack(): a 24-byte header (flag, label, id, id2), then `flag` float labels when `label` is
 * an array (flag 0 and the label in the header otherwise), then the payload.
 */
export function packRecord(label: number | number[], id: number, payload: Buffer): Buffer {
  const labels = Array.isArray(label) ? label : [];
  const header = Buffer.alloc(24 + 4 * labels.length);
  header.writeUInt32LE(labels.length, 0);
  header.writeFloatLE(Array.isArray(label) ? 0 : label, 4);
  header.writeBigUInt64LE(BigInt(id), 8);
  labels.forEach((l, i) => {
    header.writeFloatLE(l, 24 + 4 * i);
  });
  return Buffer.concat([header, payload]);
}

/** RecordIO framing: magic, (cflag << 29 | length), payload padded to 4 bytes. */
function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0xced7230a, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

/**
 * Writes `dir`/train.rec with the packed records (keys 0, 1, ...), train.idx with their offsets
 * and, when given, the property file (classes, height, width). Returns each record's offset.
 */
export function writeRecordIoFiles(dir: string, records: Buffer[], property?: { classes: number; height: number; width: number }): number[] {
  const framed = records.map(frame);
  const offsets: number[] = [];
  framed.reduce((at, r) => {
    offsets.push(at);
    return at + r.length;
  }, 0);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train.rec'), Buffer.concat(framed));
  fs.writeFileSync(path.join(dir, 'train.idx'), offsets.map((o, key) => `${key}\t${o}\n`).join(''));
  if (property) fs.writeFileSync(path.join(dir, 'property'), `${property.classes},${property.height},${property.width}`);
  return offsets;
}
