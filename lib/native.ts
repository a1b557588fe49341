/**
 * The one place that loads the native addon. Order: a prebuilt binary under prebuilds/<platform>-<arch>/
 * whose libtorch tag loads here, then the local build (build/Release), else one readable LoadError.
 * Prebuilds are named mvface.glibc.<libtorch tag>.node, the tag pinning the binary to the
 * libtorch it was linked against; a binary that cannot resolve its libtorch is never used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { createError, LoadError, type MvfaceError } from './errors';
import type { NativeAddon } from './native-types';

/** The package folder (the one holding mvface's package.json), from dist/lib or from lib/. */
export const packageRoot = findPackageRoot(__dirname);

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
  return path.basename(file).split('.').find((t) => t.startsWith('torch'));
}

export function candidates(): Candidate[] {
  if (process.env.MVFACE_NATIVE) return [{ file: path.resolve(process.env.MVFACE_NATIVE), kind: 'override' }];
  const list: Candidate[] = [];
  const dir = path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  if (fs.existsSync(dir)) {
    const preferred = `_${preferredSource()}_`;
    // node-gyp-build decides which files suit this Node (napi, libc); mvface then orders by libtorch.
    const suits = nodeGypBuild.matchTags('node', process.versions.modules);
    const files = fs.readdirSync(dir).filter((f) => suits(nodeGypBuild.parseTags(f)));
    files.sort((a, b) => Number(b.includes(preferred)) - Number(a.includes(preferred)));
    for (const f of files) list.push({ file: path.join(dir, f), kind: 'prebuild', tag: tagOf(f) });
  }
  const local = path.join(packageRoot, 'build', 'Release', 'mvface.node');
  if (fs.existsSync(local)) list.push({ file: local, kind: 'local' });
  return list;
}

const howToBuild =
  'Build from source with `npm run build` in the mvface folder (Debian/Ubuntu: `bash scripts/setup` installs ' +
  'libtorch-dev, libopenblas0-pthread and ccache first; or set LIBTORCH=/path/to/libtorch, or ' +
  'LIBTORCH_USE_PYTORCH=1 to use the libtorch of an installed PyTorch).';

/** One readable error for all failed candidates: no build, missing libtorch, or the wrong one. */
export function explainLoadFailure(failures: Array<{ file: string; kind: string; message: string }>): MvfaceError {
  const lines = failures.map((f) => `  ${f.kind} ${f.file}: ${f.message.split('\n')[0]}`).join('\n');
  const present = failures.filter((f) => fs.existsSync(f.file));
  if (present.length === 0) {
    return createError('E_NO_BUILD', `mvface: no native binary for ${process.platform}-${process.arch}.${lines ? `\n${lines}` : ''}\n${howToBuild}`);
  }
  if (present.some((f) => /lib(torch|c10)[\w.-]*\.so[\w.]*: cannot open shared object file/.test(f.message))) {
    return createError(
      'E_LIBTORCH_MISSING',
      `mvface: the libtorch its native binary was built against is not installed.\n${lines}\n` +
        `Install it (Debian/Ubuntu: apt-get install libtorch-dev libopenblas0-pthread) or build against yours. ${howToBuild}`,
    );
  }
  return createError('E_LIBTORCH_MISMATCH', `mvface: the native binary does not match the libtorch found here.\n${lines}\n${howToBuild}`);
}

function tryLoad(c: Candidate): NativeAddon {
  const mod = { exports: {} as NativeAddon };
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
