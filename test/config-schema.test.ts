import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfig, didYouMean, trainConfigSchema } from '../lib/config/schema';
import { marginLoss } from '../lib/loss/margin-loss';
import { type TrainConfig, Trainer } from '../lib/train/trainer';

const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const good: TrainConfig = {
  name: 'schema',
  runsDir: '/nonexistent-runs',
  backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 16 },
  head: { type: 'mv-am', mode: 'fixed' },
  data: { kind: 'synthetic', classes: 4, perClass: 4, height: 28, width: 28, channels: 1 },
  epochs: 1,
  batchSize: 8,
};
const x = { data: new Float32Array(8), rows: 2, cols: 4 };
const w = { data: new Float32Array(12), rows: 3, cols: 4 };
const labels = new Int32Array([0, 1]);

describe('the config schema', () => {
  it('accepts a whole config, and the interface and the schema agree', () => {
    expect(checkConfig(trainConfigSchema, good, '')).toBe(good);
  });

  const bad: Array<[string, unknown, RegExp, string]> = [
    ['a snake_case key', { ...good, batch_size: 8 }, /config: unknown key 'batch_size'; did you mean 'batchSize'\?/, 'batch_size'],
    ['a key of another library', { ...good, learningRate: 0.1 }, /config: unknown key 'learningRate'/, 'learningRate'],
    [
      'a misspelt backbone key',
      { ...good, backbone: { ...good.backbone, embedingSize: 16 } },
      /backbone: unknown key 'embedingSize'; did you mean 'embeddingSize'\?/,
      'embedingSize',
    ],
    ['a misspelt head key', { ...good, head: { type: 'mv-am', margn: 0.3 } }, /head: unknown key 'margn'; did you mean 'margin'\?/, 'margn'],
    ['a misspelt data key', { ...good, data: { ...good.data, perclass: 4 } }, /data: unknown key 'perclass'; did you mean 'perClass'\?/, 'perclass'],
    [
      'a misspelt optimizer key',
      { ...good, optimizer: { weight_decay: 0 } },
      /optimizer: unknown key 'weight_decay'; did you mean 'weightDecay'\?/,
      'weight_decay',
    ],
    ['a wrong type', { ...good, epochs: '3' }, /epochs: expected number, received string/, 'epochs'],
    ['an unknown data kind', { ...good, data: { kind: 'folder', root: '/x' } }, /data\.kind: /, 'kind'],
  ];
  it.each(bad)('refuses %s with E_CONFIG naming it', async (_, config, message, argument) => {
    await expect(Trainer.create(config as TrainConfig)).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(message), argument });
  });

  it('names every unknown key at once', () => {
    expect(() => checkConfig(trainConfigSchema, { ...good, batch_size: 8, head: { type: 'am', scal: 30 } }, '')).toThrow(
      /head: unknown key 'scal'; did you mean 'scale'\?; config: unknown key 'batch_size'/,
    );
  });

  it('refuses unknown head and option keys of marginLoss', () => {
    expect(() => marginLoss({ type: 'mv-arc', margn: 0.5 } as never, x, w, labels)).toThrow(/head: unknown key 'margn'; did you mean 'margin'\?/);
    expect(() => marginLoss({ type: 'mv-arc' }, x, w, labels, { chunkclasses: 2 } as never)).toThrow(
      /options: unknown key 'chunkclasses'; did you mean 'chunkClasses'\?/,
    );
    expect(() => marginLoss({ type: 'focal', base: { type: 'arc', marign: 0.5 } } as never, x, w, labels)).toThrow(
      /head\.base: unknown key 'marign'; did you mean 'margin'\?/,
    );
  });

  it('suggests only near keys', () => {
    expect(didYouMean('margn', ['margin', 'scale'])).toBe("; did you mean 'margin'?");
    expect(didYouMean('learningRate', ['lr', 'momentum'])).toBe('');
  });

  it('mvface schema prints the JSON Schema of config.json; --version the package version', () => {
    const schema = JSON.parse(execFileSync(process.execPath, [cli, 'schema'], { encoding: 'utf8' }));
    expect(schema).toMatchObject({
      type: 'object',
      additionalProperties: false,
      required: expect.arrayContaining(['name', 'backbone', 'head', 'data', 'epochs']),
    });
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['batchSize', 'optimizer', 'schedule', 'checkpointEveryMinutes', 'onCorrupt']));
    expect(execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
