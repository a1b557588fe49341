import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoadError } from '../lib/errors';
import { explainLoadFailure } from '../lib/native/addon';

const built = process.env.MVFACE_NATIVE || path.resolve(__dirname, '..', 'build', 'Release', 'mvface.node');

describe('native loader', () => {
  it('says there is no build when no binary exists', () => {
    const e = explainLoadFailure([]);
    expect(e).toBeInstanceOf(LoadError);
    expect(e.code).toBe('E_NO_BUILD');
    expect(e.message).toMatch(/npm run build/);
  });

  it('names a missing libtorch and how to install it', () => {
    const e = explainLoadFailure([
      { file: built, kind: 'prebuild', message: 'libtorch_cpu.so.1.13: cannot open shared object file: No such file or directory' },
    ]);
    expect(e.code).toBe('E_LIBTORCH_MISSING');
    expect(e.message).toMatch(/apt-get install libtorch-dev/);
  });

  it('names another missing library as it is, with its Debian package; messages carry no "mvface:" prefix', () => {
    const e = explainLoadFailure([
      { file: built, kind: 'prebuild', message: 'libjpeg.so.62: cannot open shared object file: No such file or directory' },
      { file: built, kind: 'local', message: 'libtorch_cpu.so.2.6: cannot open shared object file: No such file or directory' },
    ]);
    expect(e.code).toBe('E_LIBRARY_MISSING');
    expect(e.message).toMatch(/^libjpeg\.so\.62, which the native binary of mvface needs, is not installed/);
    expect(e.message).toMatch(/apt-get install libjpeg62-turbo\b/);
    for (const code of [e, explainLoadFailure([])]) expect(code.message).not.toMatch(/^mvface:/);
  });

  it('says no libtorch is installed only when every binary misses its libtorch', () => {
    const missing = (v: string) => ({
      file: built,
      kind: 'prebuild',
      message: `libtorch_cpu.so.${v}: cannot open shared object file: No such file or directory`,
    });
    expect(explainLoadFailure([missing('1.13'), missing('2.6')]).message).toMatch(/missing: libtorch_cpu\.so\.1\.13, libtorch_cpu\.so\.2\.6/);
    const mixed = explainLoadFailure([missing('2.6'), { file: built, kind: 'local', message: `${built}: undefined symbol: _ZN3c105ErrorC2E` }]);
    expect(mixed.code).toBe('E_LIBTORCH_MISMATCH');
  });

  it("names a libtorch mismatch (undefined symbols, or a tag that is not the binary's)", () => {
    const e = explainLoadFailure([{ file: built, kind: 'prebuild', message: `${built}: undefined symbol: _ZN3c105ErrorC2E` }]);
    expect(e.code).toBe('E_LIBTORCH_MISMATCH');
    expect(e.message).toMatch(/LIBTORCH/);
  });

  it('fails with one readable LoadError in a process whose binary is missing, and loads the real one', () => {
    const script = "try { require('./dist/lib/index.js').backendInfo(); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code })); }";
    const root = path.resolve(__dirname, '..');
    const out = execFileSync(process.execPath, ['-e', script], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MVFACE_NATIVE: '/nonexistent/mvface.node' },
    });
    expect(JSON.parse(out)).toEqual({ name: 'LoadError', code: 'E_NO_BUILD' });
    const ok = execFileSync(process.execPath, ['-e', "console.log(require('./dist/lib/index.js').backendInfo().binary.kind)"], { cwd: root, encoding: 'utf8' });
    expect(ok.trim()).toMatch(/^(local|prebuild|override)$/);
  });

  it("MVFACE_ONEDNN=0 turns libtorch's oneDNN kernels off; MVFACE_TF32=0 or 1 sets TensorFloat-32", () => {
    const root = path.resolve(__dirname, '..');
    const info = (env: Record<string, string>) =>
      JSON.parse(
        execFileSync(process.execPath, ['-e', "console.log(JSON.stringify(require('./dist/lib/index.js').backendInfo()))"], {
          cwd: root,
          encoding: 'utf8',
          env: { ...process.env, ...env },
        }),
      );
    expect(info({ MVFACE_ONEDNN: '0' }).onednn).toBe(false);
    expect(info({ MVFACE_TF32: '0' }).tf32).toEqual({ cudnn: false, cublas: false });
    expect(info({ MVFACE_TF32: '1' }).tf32).toEqual({ cudnn: true, cublas: true });
  });

  it('works from both import and require through the exports map', () => {
    const root = path.resolve(__dirname, '..');
    const esm = "import { backendInfo, marginLoss, MvfaceError } from 'mvface'; console.log(typeof backendInfo, typeof marginLoss, typeof MvfaceError);";
    const cjs = "const m = require('mvface'); console.log(typeof m.backendInfo, typeof m.marginLoss, typeof m.MvfaceError);";
    // Inside the package, its own name resolves through the exports map (self-reference).
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: root, encoding: 'utf8' }).trim()).toBe('function function function');
    expect(execFileSync(process.execPath, ['-e', cjs], { cwd: root, encoding: 'utf8' }).trim()).toBe('function function function');
  });
});
