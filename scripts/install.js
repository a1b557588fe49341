#!/usr/bin/env node
// npm's install hook, where npm runs it (npm 11 asks the user first; `npm install --ignore-scripts`
// skips it): nothing to do when a prebuilt binary loads; otherwise, when a libtorch is found (LIBTORCH,
// LIBTORCH_USE_PYTORCH=1 or the system's), the source build `mvface build` runs; else it says what
// to do. It never fails the install: the first use throws a LoadError that says why. In a source
// checkout it does nothing (scripts/setup builds there).

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist', 'lib');

function main() {
  if (fs.existsSync(path.join(root, 'tsconfig.json')) || !fs.existsSync(path.join(dist, 'native', 'addon.js'))) return;
  const { native, nativeLocation } = require(path.join(dist, 'native', 'addon.js'));
  try {
    native();
    const where = nativeLocation();
    console.log(`mvface: using the ${where.kind} ${path.relative(root, where.file)}`);
    return;
  } catch (e) {
    console.warn(`mvface: ${e.message.split('\n')[0]}`);
  }
  const { buildAddon, libtorchToBuildWith } = require(path.join(dist, 'native', 'build.js'));
  if (!libtorchToBuildWith()) {
    console.warn(
      'mvface: no libtorch found to build against. Install one (Debian/Ubuntu: apt-get install libtorch-dev), ' +
        'or set LIBTORCH=/path/to/libtorch or LIBTORCH_USE_PYTORCH=1, then run `npx mvface build`.',
    );
    return;
  }
  try {
    console.log(`mvface: ${buildAddon()}`);
  } catch (e) {
    console.warn(`mvface: ${e.message}`);
  }
}

main();
