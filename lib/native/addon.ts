/**
 * The one place that loads the native addon. Order: the local build (build/Release, what
 * `mvface build` or `npm run build` made), then the prebuilt binaries under
 * prebuilds/<platform>-<arch>/ (those for the libtorch source asked for first), else one readable
 * LoadError. Prebuilds are named mvface.glibc.<libtorch tag>.node, the tag pinning the binary to
 * the libtorch it was linked against (torch2_6_0_system_cpu: Debian 13's); one whose libtorch is not
 * installed fails to load and the next is tried, and a binary whose tag is not its own is never used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { createError, LoadError, type MvfaceError } from '../errors';
import type { NativeAddon } from './types';

/** The package folder (the one holding mvface's package.json), from dist/lib or from lib/. */
export const packageRoot = findPackageRoot(__dirname);

/** mvface's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'mvface') return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, '..', '..');
  }
}

interface Candidate {
  file: string;
  kind: 'prebuild' | 'local' | 'override';
  tag?: string;
}

let addon: NativeAddon | undefined;
let loadedFrom: Candidate | undefined;

function preferredSource(): string {
  if (process.env.LIBTORCH) return 'libtorch';
  if (process.env.LIBTORCH_USE_PYTORCH === '1') return 'pytorch';
  return 'system';
}

function tagOf(file: string): string | undefined {
  return path
    .basename(file)
    .split('.')
    .find((t) => t.startsWith('torch'));
}

export function candidates(): Candidate[] {
  if (process.env.MVFACE_NATIVE) return [{ file: path.resolve(process.env.MVFACE_NATIVE), kind: 'override' }];
  const list: Candidate[] = [];
  const local = path.join(packageRoot, 'build', 'Release', 'mvface.node');
  if (fs.existsSync(local)) list.push({ file: local, kind: 'local' });
  const dir = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(dir)) {
    const preferred = `_${preferredSource()}_`;
    // node-gyp-build decides which files suit this Node (napi, libc); mvface then orders by libtorch.
    const suits = nodeGypBuild.matchTags('node', process.versions.modules);
    const files = fs.readdirSync(dir).filter((f) => suits(nodeGypBuild.parseTags(f)));
    files.sort((a, b) => Number(b.includes(preferred)) - Number(a.includes(preferred)) || b.localeCompare(a));
    for (const f of files) list.push({ file: path.join(dir, f), kind: 'prebuild', tag: tagOf(f) });
  }
  return list;
}

/** Whether this is a source checkout (lib/ and tsconfig.json beside package.json) or an installed package. */
const checkout = fs.existsSync(path.join(packageRoot, 'tsconfig.json'));

/** The command that builds the addon where mvface is, and what it needs. */
export function buildAdvice(): string {
  const command = checkout ? '`npm run build` in the mvface folder' : '`npx mvface build`';
  return (
    `Build it against your libtorch with ${command} (it needs cmake >= 3.18, a C++17 compiler and the ` +
    'libjpeg, libpng and zlib headers; LIBTORCH=/path/to/libtorch or LIBTORCH_USE_PYTORCH=1 choose the libtorch; ' +
    'Debian/Ubuntu: apt-get install libtorch-dev libgloo-dev libopenblas0-pthread cmake g++ libjpeg62-turbo-dev libpng-dev zlib1g-dev).'
  );
}

// Debian's packages for the libraries the binaries need beyond libtorch.
const debianPackages: Array<[RegExp, string]> = [
  [/^libjpeg\.so/, 'libjpeg62-turbo'],
  [/^libpng16\.so/, 'libpng16-16 (Debian 13: libpng16-16t64)'],
  [/^libz\.so/, 'zlib1g'],
  [/^libopenblas/, 'libopenblas0-pthread'],
  [/^libgloo/, 'libgloo-dev'],
];

/** The shared libraries the dynamic loader could not find, from dlopen's messages. */
function missingLibraries(messages: string[]): string[] {
  const names = messages.flatMap((m) => [...m.matchAll(/([\w.+-]+\.so[\w.]*): cannot open shared object file/g)].map((x) => x[1]));
  return [...new Set(names)];
}

/** One readable error for all failed candidates: no build, missing libtorch or another library, or the wrong one. */
export function explainLoadFailure(failures: Array<{ file: string; kind: string; message: string }>): MvfaceError {
  const lines = failures.map((f) => `  ${f.kind} ${f.file}: ${f.message.split('\n')[0]}`).join('\n');
  const present = failures.filter((f) => fs.existsSync(f.file));
  if (present.length === 0) {
    return createError('E_NO_BUILD', `no native binary of mvface for ${process.platform}-${process.arch}.${lines ? `\n${lines}` : ''}\n${buildAdvice()}`);
  }
  const missing = missingLibraries(present.map((f) => f.message));
  const isLibtorch = (name: string) => /^lib(torch|c10)/.test(name);
  const libtorch = missing.filter(isLibtorch);
  const others = missing.filter((m) => !isLibtorch(m));
  if (others.length > 0) {
    const packages = others.map((m) => debianPackages.find(([re]) => re.test(m))?.[1]).filter(Boolean);
    return createError(
      'E_LIBRARY_MISSING',
      `${others.join(', ')}, which the native binary of mvface needs, ${others.length > 1 ? 'are' : 'is'} not installed.\n${lines}\n` +
        `Install ${others.length > 1 ? 'them' : 'it'}${packages.length ? ` (Debian/Ubuntu: apt-get install ${packages.join(' ')})` : ''}.`,
    );
  }
  if (present.every((f) => missingLibraries([f.message]).some(isLibtorch))) {
    return createError(
      'E_LIBTORCH_MISSING',
      `none of the libtorch builds mvface's native binaries were built against is installed (missing: ${libtorch.join(', ')}).\n${lines}\n` +
        `Install one (Debian 12 or 13: apt-get install libtorch-dev libopenblas0-pthread), or build against yours. ${buildAdvice()}`,
    );
  }
  return createError('E_LIBTORCH_MISMATCH', `the native binary of mvface does not match the libtorch found here.\n${lines}\n${buildAdvice()}`);
}

/**
 * Debian 13's libtorch links Open MPI and UCX. When loaded, UCX replaces Node's signal handlers,
 * starts a background thread for a FUSE file system, and hooks malloc and mmap: in a Node process
 * those hooks corrupt the heap now and then (a rank of a two-process job crashed in about 1 run of
 * 40; none in 160 with the hooks off). Unless the user set them, these settings turn all three off
 * before the first load.
 */
const UCX_SETTINGS: [string, string][] = [
  ['UCX_HANDLE_ERRORS', 'none'],
  ['UCX_VFS_ENABLE', 'n'],
  ['UCX_MEM_EVENTS', 'no'],
  ['UCX_MEM_MALLOC_HOOKS', 'no'],
  ['UCX_MEM_MMAP_HOOK_MODE', 'none'],
];

function quietUcx(): void {
  for (const [name, value] of UCX_SETTINGS) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
}

function tryLoad(c: Candidate): NativeAddon {
  const mod = { exports: {} as NativeAddon };
  quietUcx();
  process.dlopen(mod, c.file);
  const native = mod.exports;
  if (c.tag && native.backendInfo().libtorchTag !== c.tag) {
    throw new Error(`tag ${c.tag} in the file name, ${native.backendInfo().libtorchTag} inside the binary`);
  }
  native.setErrorFactory(createError);
  return native;
}

/** The loaded addon; loads it on first use. Throws a LoadError saying how to fix a failed load. */
export function native(): NativeAddon {
  if (addon) return addon;
  const failures: Array<{ file: string; kind: string; message: string }> = [];
  for (const c of candidates()) {
    try {
      addon = tryLoad(c);
      loadedFrom = c;
      return addon;
    } catch (e) {
      failures.push({ file: c.file, kind: c.kind, message: (e as Error).message });
    }
  }
  throw explainLoadFailure(failures);
}

/** Where the addon was loaded from (after the first call to native()). */
export function nativeLocation(): { file: string; kind: string } | undefined {
  return loadedFrom && { file: loadedFrom.file, kind: loadedFrom.kind };
}

export { LoadError };
