#!/usr/bin/env node
// Builds the addon with cmake-js, offline. libtorch discovery (LIBTORCH, LIBTORCH_USE_PYTORCH=1,
// system) happens in cmake/FindLibtorch.cmake, which prints the one it used.
//   --keep-going   configure, then build past the first failure (ninja -k 0, make -k), so that one
//                  run shows every compile error
//   --target <t>   build only that target (mvface_gpu_check: scripts/check-cuda-build.sh)
// Other arguments go to cmake-js.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const addonApi = path.dirname(require.resolve('node-addon-api/package.json', { paths: [root] }));
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const jobs = process.env.MVFACE_BUILD_JOBS || String(Math.max(1, Math.min(os.cpus().length, 8)));
const outDir = process.env.MVFACE_BUILD_DIR || 'build';
const args = process.argv.slice(2);
const keepGoing = args.includes('--keep-going');
const targetAt = args.indexOf('--target');
const target = targetAt >= 0 ? args[targetAt + 1] : undefined;
const passed = args.filter((a, i) => a !== '--keep-going' && (targetAt < 0 || (i !== targetAt && i !== targetAt + 1)));

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('\nmvface: the native build failed. See the messages above; `bash scripts/setup` installs what it needs.');
    process.exit(result.status ?? 1);
  }
}

const defines = [`--CDNODE_ADDON_API_DIR=${addonApi}`, `--CDMVFACE_VERSION=${pkg.version}`];
if (!keepGoing) {
  run(process.execPath, [cmakeJs, 'build', '--out', outDir, '--parallel', jobs, ...(target ? ['--target', target] : []), ...defines, ...passed]);
} else {
  run(process.execPath, [cmakeJs, 'configure', '--out', outDir, ...defines, ...passed]);
  const ninja = fs.existsSync(path.join(root, outDir, 'build.ninja'));
  const only = target ? ['--target', target] : [];
  run('cmake', ['--build', outDir, '--config', 'Release', '--parallel', jobs, ...only, '--', ...(ninja ? ['-k', '0'] : ['-k'])]);
}
