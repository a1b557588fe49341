#!/usr/bin/env node
// Adds the libtorch tag to the prebuild that prebuildify wrote (mvface.glibc.node ->
// mvface.glibc.torch1_13_0_system_cpu.node), so that lib/native/addon.ts never loads a binary built
// against one libtorch with another. The tag is read from the binary itself.

const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(__dirname, '..', 'prebuilds', `${process.platform}-${process.arch}`);
const untagged = fs.readdirSync(dir).filter((f) => f.endsWith('.node') && !f.split('.').some((t) => t.startsWith('torch')));
if (untagged.length === 0) {
  console.error(`mvface: no untagged prebuild in ${dir}`);
  process.exit(1);
}
for (const file of untagged) {
  const mod = { exports: {} };
  process.dlopen(mod, path.join(dir, file));
  const tag = mod.exports.backendInfo().libtorchTag;
  const tagged = file.replace(/\.node$/, `.${tag}.node`);
  fs.renameSync(path.join(dir, file), path.join(dir, tagged));
  console.log(`mvface: prebuild ${path.join(dir, tagged)}`);
}
