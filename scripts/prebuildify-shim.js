#!/usr/bin/env node
// prebuildify calls "node-gyp rebuild --target=... --release"; mvface builds with cmake-js instead.
// The build lands in build/Release/mvface.node, where prebuildify looks for it.

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const result = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit' });
process.exit(result.status ?? 1);
