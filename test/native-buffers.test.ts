/**
 * Native calls and the memory of their arguments and results: an asynchronous call reads copies of
 * its inputs, so that detaching or changing them while it is pending is harmless, and results live
 * in memory V8 frees when it collects them, so that a synchronous loop of calls stays flat. Each
 * case runs in a child process, where a crash is a failing status rather than the runner's end.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../lib/cli/launch';

const root = path.resolve(__dirname, '..');
const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-buffers-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

function child(script: string, env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, MVFACE_NUM_THREADS: '1', ...env },
  });
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toMatchObject({ status: 0, signal: null });
  return r.stdout;
}

// Starts `call` on `inputs`, then detaches or overwrites every input while it is pending; prints
// what it returned and what the same call returns on untouched copies.
const harness = `
const { createHash } = require('crypto');
const digest = (a) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const summary = (r) => (ArrayBuffer.isView(r) ? digest(r) : { ...r, gradEmbeddings: digest(r.gradEmbeddings), gradWeight: digest(r.gradWeight) });
const spoil = {
  detach: (a) => { structuredClone(a.buffer, { transfer: [a.buffer] }); gc(); },
  overwrite: (a) => a.fill(7),
};
async function check(how, call, inputs) {
  const copies = inputs.map((a) => a.slice());
  const pending = call(inputs);
  inputs.forEach(spoil[how]);
  if (inputs.some((a) => how === 'detach' ? a.length !== 0 : a[0] !== 7)) throw new Error('input not ' + how + 'ed');
  const got = summary(await pending);
  console.log(JSON.stringify({ got, want: summary(await call(copies)) }));
}
const random = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
`;

// The loss's weight is 40 MB: held in its own mapping, which detaching (and collecting) unmaps.
const calls: Record<string, string> = {
  marginLossAsync: `
    const { marginLossAsync } = require('./dist/lib/loss/margin-loss.js');
    const B = 16, D = 256, C = 40000;
    const loss = ([x, w, labels]) => marginLossAsync({ type: 'mv-arc' }, { data: x, rows: B, cols: D }, { data: w, rows: C, cols: D }, labels);
    const run = (how) => check(how, loss, [random(B * D, 1), random(C * D, 2), Int32Array.from({ length: B }, (_, i) => (i * 997) % C)]);`,
  shardedLoss: `
    const { ProcessGroup } = require('./dist/lib/train/distributed.js');
    const B = 16, D = 256, C = 40000;
    const group = ProcessGroup.join();
    const loss = ([x, w, labels]) => group.shardedLoss({ type: 'mv-arc' }, { data: x, rows: B, cols: D }, { data: w, rows: C, cols: D }, C, labels);
    const run = (how) => check(how, loss, [random(B * D, 1), random(C * D, 2), Int32Array.from({ length: B }, (_, i) => (i * 997) % C)]).finally(() => group.dispose());`,
  backboneForward: `
    const { backboneForward } = require('./dist/lib/model/backbones.js');
    const small = { name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 16 };
    const run = (how) => check(how, ([images]) => backboneForward(small, 5, images, 64), [random(64 * 3 * 28 * 28, 3)]);`,
  'Model.embed': `
    const { Model } = require('./dist/lib/model/model.js');
    const run = async (how) => {
      const model = await Model.create({ name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 16 }, { seed: 5 });
      await check(how, async ([images]) => (await model.embed(images, { flip: false, normalize: false })).data, [random(64 * 3 * 28 * 28, 3)]);
      model.dispose();
    };`,
  'Trainer.embed': `
    const { Trainer } = require('./dist/lib/train/trainer.js');
    const run = async (how) => {
      const trainer = await Trainer.create({
        name: how, runsDir: process.env.RUNS_DIR, backbone: { name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 16 },
        head: { type: 'mv-arc' }, data: { kind: 'synthetic', classes: 4, perClass: 4, height: 28, width: 28, channels: 3, seed: 2 },
        epochs: 1, batchSize: 8, seed: 3, workers: 1, device: 'cpu',
      });
      await check(how, ([images]) => trainer.embed(images, 64), [random(64 * 3 * 28 * 28, 3)]);
      trainer.dispose();
    };`,
};

describe('asynchronous calls read copies of their inputs', () => {
  const cases = Object.keys(calls).flatMap((name) => (['detach', 'overwrite'] as const).map((how) => [name, how] as const));
  it.each(cases)('%s: %s the inputs while pending', async (name, how) => {
    const group = { RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: `${await freePort()}` };
    const env = name === 'shardedLoss' ? group : { RUNS_DIR: runsDir };
    const { got, want } = JSON.parse(child(`${harness}${calls[name]}\nrun('${how}').catch((e) => { console.error(e); process.exit(1); });`, env));
    expect(got).toEqual(want);
  });
});

describe('results of synchronous calls', () => {
  // 2,000 results of 1 MiB each (the 1000 x 256 gradWeight): 2 GiB if none were freed before the
  // event loop turns. Collected as the loop goes, the process grows by a few MiB.
  it('are freed during a synchronous loop: RSS stays flat', () => {
    const out = child(`
      const { marginLoss } = require('./dist/lib/loss/margin-loss.js');
      const B = 16, D = 256, C = 1000;
      const random = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
      const x = { data: random(B * D, 1), rows: B, cols: D }, w = { data: random(C * D, 2), rows: C, cols: D };
      const labels = Int32Array.from({ length: B }, (_, i) => i % C);
      for (let i = 0; i < 100; i++) marginLoss({ type: 'mv-arc' }, x, w, labels);
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 2000; i++) marginLoss({ type: 'mv-arc' }, x, w, labels);
      console.log(JSON.stringify({ before, after: process.memoryUsage().rss }));`);
    const { before, after } = JSON.parse(out);
    // RSS after the 2,000 calls within 20% of RSS after the first 100 (here: 252 -> 248 to 268 MiB).
    expect(after / before).toBeLessThan(1.2);
  });
});
