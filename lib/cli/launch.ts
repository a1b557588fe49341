/**
 * `mvface train --nproc N`: N local processes of the same command, one rank each, with the
 * variables torchrun would set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and the
 * machine's cores shared between them. Rank 0 speaks on this terminal; the others' lines are prefixed.
 * Ctrl-C reaches every rank once (each stops after the same step); if one rank fails the others are
 * stopped, and the exit code is the first failure's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as readline from 'node:readline';
import { createError } from '../errors';

export interface LaunchOptions {
  nproc: number;
  /** The script and its arguments, for each rank (without --nproc). */
  argv: string[];
  /** Default: a free port on 127.0.0.1. */
  masterPort?: number;
  /** Intra-op threads per rank. Default: the cores / nproc (at least 1). */
  threadsPerRank?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Removes `--nproc N` / `--nproc=N` from a command line. */
export function withoutNproc(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--nproc') i++;
    else if (!args[i].startsWith('--nproc=')) out.push(args[i]);
  }
  return out;
}

function prefixLines(stream: NodeJS.ReadableStream, into: NodeJS.WritableStream, prefix: string): void {
  readline.createInterface({ input: stream }).on('line', (line) => into.write(`${prefix}${line}\n`));
}

function startRank(rank: number, o: Required<LaunchOptions>): ChildProcess {
  const env = {
    ...process.env,
    RANK: `${rank}`,
    WORLD_SIZE: `${o.nproc}`,
    LOCAL_RANK: `${rank}`,
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: `${o.masterPort}`,
    MVFACE_NUM_THREADS: `${o.threadsPerRank}`,
    MVFACE_LAUNCHER_PID: `${process.pid}`,
  };
  // Own process groups: a terminal's Ctrl-C reaches this launcher only, which forwards it once.
  const child = spawn(process.execPath, o.argv, { env, detached: true, stdio: rank === 0 ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
  if (rank !== 0) {
    prefixLines(child.stdout!, process.stderr, `[rank ${rank}] `);
    prefixLines(child.stderr!, process.stderr, `[rank ${rank}] `);
  }
  return child;
}

/**
 * In a rank started by launchLocal: exit when the launcher is gone (killed outright), instead of
 * waiting in a collective for ranks that will never come.
 */
export function exitWithLauncher(): void {
  const launcher = Number(process.env.MVFACE_LAUNCHER_PID);
  if (!launcher) return;
  setInterval(() => {
    if (process.ppid !== launcher) {
      process.stderr.write('mvface: the launcher is gone; this rank stops\n');
      process.exit(1);
    }
  }, 1000).unref();
}

/** The exit code of a cancelled `mvface train` (Ctrl-C, checkpoint written). */
const cancelled = 130;

/** Runs the ranks to the end; resolves with the exit code (0, or the first failing rank's). */
export async function launchLocal(options: LaunchOptions): Promise<number> {
  if (!Number.isInteger(options.nproc) || options.nproc < 1 || options.nproc > 1024) {
    throw createError('E_CONFIG', `nproc: must be an integer in [1, 1024], got ${options.nproc}`, 'nproc');
  }
  const o: Required<LaunchOptions> = {
    ...options,
    masterPort: options.masterPort ?? (await freePort()),
    threadsPerRank: options.threadsPerRank ?? Math.max(1, Math.floor(os.availableParallelism() / options.nproc)),
  };
  const children = Array.from({ length: o.nproc }, (_, rank) => startRank(rank, o));
  const forward = (signal: NodeJS.Signals) => () => {
    for (const c of children) if (c.exitCode === null) c.kill(signal);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let firstFailure = 0;
  try {
    await Promise.all(
      children.map(
        (child, rank) =>
          new Promise<void>((resolve) => {
            child.once('exit', (code, signal) => {
              const status = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
              if (status === cancelled)
                firstFailure ||= status; // the others are stopping at the same step
              else if (status !== 0 && (firstFailure === 0 || firstFailure === cancelled)) {
                firstFailure = status;
                process.stderr.write(`mvface: rank ${rank} exited with ${signal ?? code}; stopping the other ranks\n`);
                children.forEach((c) => {
                  if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
                });
              }
              resolve();
            });
          }),
      ),
    );
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  return firstFailure;
}
