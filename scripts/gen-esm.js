#!/usr/bin/env node
// Writes dist/lib/index.mjs, the ESM entry of the exports map: it re-exports the CommonJS build's
// names, so `import` and `require` share one module instance (one loaded addon).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.resolve(__dirname, '..', 'dist', 'lib');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default' && n !== '__esModule');
const body = [
  "import cjs from './index.js';",
  `export const { ${names.join(', ')} } = cjs;`,
  'export default cjs;',
  '',
].join('\n');
fs.writeFileSync(path.join(dist, 'index.mjs'), body);
fs.copyFileSync(path.join(dist, 'index.d.ts'), path.join(dist, 'index.d.mts'));
