/** The run folder: config.json, log.jsonl, checkpoint.pt (+ .json), summary.json, model.pt. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createError } from '../errors';

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

/** Where a run's records go: log.jsonl, or nowhere (ranks other than 0). */
export interface RunLog {
  write(record: Record<string, unknown>): void;
  close(): void;
}

export class JsonlLog implements RunLog {
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

/** The files a run writes in its folder (eval.json and report/ included). */
const runFiles = ['config.json', 'log.jsonl', 'checkpoint.pt', 'checkpoint.json', 'summary.json', 'model.pt', 'model.json', 'eval.json', 'report'];

/** Whether the folder holds a run (a config or a checkpoint). */
export function holdsRun(paths: RunPaths): boolean {
  return fs.existsSync(paths.config) || fs.existsSync(paths.checkpoint);
}

/** Deletes what a run wrote in its folder, nothing else. */
export function clearRun(paths: RunPaths): void {
  for (const f of runFiles) fs.rmSync(path.join(paths.dir, f), { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes <dir>/lock for this process: E_CONFIG when a live process on this machine holds it; a lock
 * whose holder died is taken over. Returns the release function (also run at exit).
 */
export function lockRun(dir: string): () => void {
  const file = path.join(dir, 'lock');
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
      const release = () => {
        process.off('exit', release);
        try {
          if (fs.readFileSync(file, 'utf8') === mine) fs.rmSync(file);
        } catch {
          /* already gone */
        }
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw createError('E_IO', `${file}: cannot create the lock (${(e as Error).message})`, file);
    }
    let holder: { pid?: number; host?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      /* half written or unreadable: treated as stale */
    }
    if (holder.pid !== undefined && (holder.host !== os.hostname() || alive(holder.pid))) {
      throw createError(
        'E_CONFIG',
        `${dir}: in use by process ${holder.pid} on ${holder.host} (its lock file: ${file}); wait for it, or use another run name`,
        'name',
      );
    }
    fs.rmSync(file, { force: true });
  }
  throw createError('E_CONFIG', `${dir}: another process took the lock at the same time`, 'name');
}
