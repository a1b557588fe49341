/** The run folder: config.json, log.jsonl, checkpoint.pt (+ .json), summary.json, model.pt. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createError } from './errors';

export interface RunPaths {
  dir: string;
  config: string;
  log: string;
  checkpoint: string;
  checkpointMeta: string;
  summary: string;
  model: string;
  modelMeta: string;
}

export function runPaths(dir: string): RunPaths {
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    config: p('config.json'),
    log: p('log.jsonl'),
    checkpoint: p('checkpoint.pt'),
    checkpointMeta: p('checkpoint.json'),
    summary: p('summary.json'),
    model: p('model.pt'),
    modelMeta: p('model.json'),
  };
}

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw createError('E_IO', `${dir}: cannot create the run folder (${(e as Error).message})`, dir);
  }
}

/** Writes JSON to a temporary file and renames it into place: a crash never leaves half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw createError('E_IO', `${file}: cannot read (${(e as Error).message})`, file);
  }
}

export class JsonlLog {
  private fd: number;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  write(record: Record<string, unknown>): void {
    fs.writeSync(this.fd, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
