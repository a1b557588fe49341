/**
 * Building the native addon where mvface is installed, for a libtorch no prebuilt binary matches
 * (`mvface build`, and npm's install hook when npm runs it): scripts/build-native.js with cmake-js,
 * offline, against the libtorch found in the documented order (LIBTORCH, LIBTORCH_USE_PYTORCH=1,
 * the system's CMake config).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createError } from '../errors';
import { buildAdvice, packageRoot } from './addon';

export interface BuildOptions {
  /** An unpacked libtorch (LIBTORCH). */
  libtorch?: string;
  /** The libtorch of the installed PyTorch (LIBTORCH_USE_PYTORCH=1). */
  pytorch?: boolean;
  /** Parallel compile jobs (default: the cores, at most 8). */
  jobs?: number;
}

// Where Debian, Ubuntu and a make install put libtorch's CMake config.
const systemConfigDirs = [
  '/usr/lib/x86_64-linux-gnu/cmake/Torch',
  '/usr/lib/aarch64-linux-gnu/cmake/Torch',
  '/usr/lib/cmake/Torch',
  '/usr/share/cmake/Torch',
  '/usr/local/lib/cmake/Torch',
  '/usr/local/share/cmake/Torch',
];

/** The libtorch a build would use, in words; undefined when none is to be found. */
export function libtorchToBuildWith(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LIBTORCH) return `the libtorch in ${env.LIBTORCH} (LIBTORCH)`;
  if (env.LIBTORCH_USE_PYTORCH === '1') return "the installed PyTorch's libtorch (LIBTORCH_USE_PYTORCH=1)";
  const config = systemConfigDirs.find((d) => fs.existsSync(path.join(d, 'TorchConfig.cmake')));
  return config && `the system's libtorch (${config})`;
}

function buildEnvironment(options: BuildOptions): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (options.libtorch !== undefined) env.LIBTORCH = path.resolve(options.libtorch);
  if (options.pytorch) env.LIBTORCH_USE_PYTORCH = '1';
  if (options.jobs !== undefined) {
    if (!Number.isInteger(options.jobs) || options.jobs < 1) throw createError('E_CONFIG', `jobs: must be an integer >= 1, got ${options.jobs}`, 'jobs');
    env.MVFACE_BUILD_JOBS = String(options.jobs);
  }
  return env;
}

/**
 * Builds build/Release/mvface.node in the mvface folder, showing cmake's progress, and returns the
 * line that says which libtorch it was built against. Throws a LoadError when no libtorch is found
 * or the build fails.
 */
export function buildAddon(options: BuildOptions = {}): string {
  const env = buildEnvironment(options);
  const libtorch = libtorchToBuildWith(env);
  if (!libtorch) {
    throw createError(
      'E_NO_BUILD',
      `no libtorch to build against: none is installed where CMake looks, and neither LIBTORCH nor LIBTORCH_USE_PYTORCH=1 is set. ${buildAdvice()}`,
    );
  }
  process.stderr.write(`mvface: building the native addon in ${path.join(packageRoot, 'build')} against ${libtorch}\n`);
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'scripts', 'build-native.js')], { cwd: packageRoot, env, stdio: 'inherit' });
  if (r.status !== 0) throw createError('E_NO_BUILD', `the native build failed (exit ${r.status ?? r.signal}): see the messages above. ${buildAdvice()}`);
  const built = path.join(packageRoot, 'build', 'libtorch.txt');
  return fs.existsSync(built) ? fs.readFileSync(built, 'utf8').trim() : 'built';
}
