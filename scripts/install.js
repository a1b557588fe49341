#!/usr/bin/env node
// npm install hook for users of the published package: nothing to do when a prebuilt binary (or a
// local build) loads; otherwise try a source build with cmake-js, and explain what is missing if
// that is not possible. It never fails the install: the first use throws a LoadError that says why.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

function loads() {
  const dist = path.join(root, 'dist', 'lib', 'native.js');
  if (!fs.existsSync(dist)) return false;
  try {
    require(dist).native();
    return true;
  } catch (e) {
    console.warn(`mvface: ${e.message.split('\n')[0]}`);
    return false;
  }
}

if (!loads()) {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    console.warn('mvface: no prebuilt binary matches this machine and cmake-js is not installed; ' +
      'install cmake-js and node-addon-api, then run `npm run build:native` in the mvface folder.');
    process.exit(0);
  }
  const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit' });
  if (r.status !== 0) console.warn('mvface: source build failed; see above. mvface will not load until it builds.');
}
