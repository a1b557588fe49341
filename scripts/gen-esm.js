#!/usr/bin/env node
// Writes dist/lib/index.mjs, the ESM entry of the exports map, and its declarations index.d.mts: it
// re-exports the CommonJS build's names, so `import` and `require` share one module instance (one
// loaded addon).

const fs = require('node:fs');
const path = require('node:path');

const dist = path.resolve(__dirname, '..', 'dist', 'lib');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default' && n !== '__esModule');
const body = ["import cjs from './index.js';", `export const { ${names.join(', ')} } = cjs;`, 'export default cjs;', ''].join('\n');
fs.writeFileSync(path.join(dist, 'index.mjs'), body);

// Its declarations mirror it: the CommonJS declarations, re-exported with an explicit extension (an
// ES module's relative imports need one), and module.exports as the default export.
const types = ["export * from './index.js';", "import cjs from './index.js';", 'export default cjs;', ''].join('\n');
fs.writeFileSync(path.join(dist, 'index.d.mts'), types);
