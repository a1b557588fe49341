import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unexportedTypes } from './public-types';

// Consumer projects, compiled by the real tsc against the package as installed (its exports map):
// every import must resolve, and to its real type, not `any`.

const root = path.resolve(__dirname, '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const entry = path.join(root, 'dist', 'lib', 'index.d.ts');
const run = promisify(execFile);

const types = [
  'BackendInfo',
  'DecodedImages',
  'Device',
  'EmbedFn',
  'Embeddings',
  'EvalModel',
  'EvalSetResult',
  'FaceConfig',
  'HeadConfig',
  'HeadEntry',
  'LossResult',
  'Matrix',
  'NativeLoader',
  'NativeLossConfig',
  'PairList',
  'Precision',
  'PrecisionConfig',
  'ReportFiles',
  'RunPaths',
  'ScaledHeadConfig',
  'TrainConfig',
  'VerificationMetrics',
];

/** Checks that only pass when `m` (the package, however imported) and the types have their real types. */
function checks(m: string): string {
  return `
type Known<T> = 0 extends 1 & T ? false : true;
${types.map((t) => `const known${t}: Known<${t}> = true;`).join('\n')}
const knownModule: Known<typeof ${m}> = true;
const knownTrainer: Known<Awaited<ReturnType<typeof ${m}.Trainer.create>>> = true;

const loss: (config: HeadConfig, x: Matrix, w: Matrix, labels: Int32Array) => LossResult = ${m}.marginLoss;
// @ts-expect-error a head name is not a HeadConfig
${m}.marginLoss('arc', ${m}.matrix(1, 1), ${m}.matrix(1, 1), new Int32Array(1));
const device: Device = 'cuda:1';
// @ts-expect-error not a Device
const tpu: Device = 'tpu';
const precision: Precision = 'bf16';
const codeOf = (e: unknown): string | undefined => (e instanceof ${m}.ConfigError ? e.code : undefined);
`;
}

const typeImports = `import type { ${types.join(', ')} } from 'mvface';`;
const esm = `${typeImports}
import { marginLoss, matrix, Trainer, ConfigError } from 'mvface';
import * as ns from 'mvface';
import mvface from 'mvface';
const named = { marginLoss, matrix, Trainer, ConfigError };
${checks('named')}
{ ${checks('ns')} }
{ ${checks('mvface')} }
`;
const cjs = `${typeImports}
import m = require('mvface');
import { marginLoss, matrix, Trainer, ConfigError } from 'mvface';
const named = { marginLoss, matrix, Trainer, ConfigError };
${checks('m')}
{ ${checks('named')} }
`;

const modes = [
  { module: 'node16', moduleResolution: 'node16' },
  { module: 'nodenext', moduleResolution: 'nodenext' },
  { module: 'preserve', moduleResolution: 'bundler' },
];

let dir = '';
beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'lib', 'index.d.mts'))) {
    throw new Error('dist/lib/index.d.mts is missing: build first (npx tsc -p tsconfig.json && node scripts/gen-esm.js)');
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-types-'));
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'mvface'), 'dir');
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
  fs.writeFileSync(path.join(dir, 'esm.mts'), esm);
  fs.writeFileSync(path.join(dir, 'cjs.cts'), cjs);
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** tsc's diagnostics for the consumer files under `options`; empty when they type-check. */
async function compile(options: Record<string, string>): Promise<string> {
  const project = path.join(dir, `tsconfig.${options.moduleResolution}.json`);
  const compilerOptions = {
    ...options,
    target: 'es2022',
    strict: true,
    noImplicitAny: true,
    skipLibCheck: false,
    noEmit: true,
    lib: ['es2022'],
    types: ['node'],
  };
  fs.writeFileSync(project, JSON.stringify({ compilerOptions, files: ['esm.mts', 'cjs.cts'] }));
  try {
    await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: dir });
    return '';
  } catch (e) {
    const { stdout, stderr } = e as { stdout: string; stderr: string };
    return `${stdout}${stderr}`.trim() || String(e);
  }
}

describe('type declarations', () => {
  it('export every type the public signatures use', () => {
    expect(unexportedTypes(entry)).toEqual([]);
  });

  it.concurrent.each(modes)('type-check for ESM and CommonJS consumers (moduleResolution $moduleResolution)', async (options) => {
    expect(await compile(options)).toBe('');
  });
});
