#!/usr/bin/env node
// Builds the addon with cmake-js, offline. libtorch discovery (LIBTORCH, LIBTORCH_USE_PYTORCH=1,
// system) happens in cmake/FindLibtorch.cmake, which prints the one it used.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const addonApi = path.dirname(require.resolve('node-addon-api/package.json', { paths: [root] }));
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const jobs = process.env.MVFACE_BUILD_JOBS || String(Math.max(1, Math.min(os.cpus().length, 8)));
const outDir = process.env.MVFACE_BUILD_DIR || 'build';

const args = [
  cmakeJs, 'build', '--out', outDir, '--parallel', jobs,
  `--CDNODE_ADDON_API_DIR=${addonApi}`,
  `--CDMVFACE_VERSION=${pkg.version}`,
  ...process.argv.slice(2),
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('\nmvface: the native build failed. See the messages above; `bash scripts/setup` installs what it needs.');
  process.exit(result.status ?? 1);
}
