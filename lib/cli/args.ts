/** Parsing of the CLI's arguments: numbers, and the compact data and head arguments into typed configs. */
import { InvalidArgumentError } from 'commander';
import type { DataSpec } from '../data/loader';
import { createError } from '../errors';
import type { HeadConfig } from '../loss/margin-loss';
import { type Device, isDevice } from '../train/trainer';

/** A commander argument parser: a finite number. */
export function numberArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('not a number');
  return n;
}

/** A commander argument parser: an integer. */
export function integerArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('not an integer');
  return n;
}

/** A commander argument parser: cpu, cuda, cuda:N or auto. */
export function deviceArg(v: string): Device {
  if (!isDevice(v)) throw new InvalidArgumentError('expected cpu, cuda, cuda:N or auto');
  return v;
}

/** key=value pairs: numbers, true and false as such, anything else as a string. */
export function keyValues(pairs: string[], flag: string): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw createError('E_CONFIG', `${flag}: expected key=value, got '${pair}'`, flag.slice(2));
      const [key, text] = [pair.slice(0, at), pair.slice(at + 1)];
      const value = text === 'true' ? true : text === 'false' ? false : text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
      return [key, value];
    }),
  );
}

function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (v === undefined) throw createError('E_CONFIG', `data: expected key=value, got '${part}'`, 'data');
    out[k] = v;
  }
  return out;
}

/**
 * fashion-mnist[:train|test] | imagefolder:<dir> | recordio:<dir> | idx:<images>,<labels> |
 * synthetic:classes=N,perClass=K[,size=S,channels=C,seed=X]
 */
export function parseDataArg(arg: string): DataSpec {
  const at = arg.indexOf(':');
  const kind = at < 0 ? arg : arg.slice(0, at);
  const rest = at < 0 ? '' : arg.slice(at + 1);
  switch (kind) {
    case 'fashion-mnist':
      if (rest && rest !== 'train' && rest !== 'test') throw createError('E_CONFIG', `data: fashion-mnist split must be train or test`, 'data');
      return { kind: 'fashion-mnist', split: (rest || 'train') as 'train' | 'test' };
    case 'imagefolder':
      return { kind: 'imagefolder', root: rest };
    case 'recordio':
      return { kind: 'recordio', path: rest };
    case 'idx': {
      const [images, labels] = rest.split(',');
      return { kind: 'idx', images, labels };
    }
    case 'synthetic': {
      const f = fields(rest);
      const n = (k: string, d?: number) => (f[k] === undefined ? d : Number(f[k]));
      return {
        kind: 'synthetic',
        classes: n('classes', 100)!,
        perClass: n('perClass', 20)!,
        height: n('size', 112),
        width: n('size', 112),
        channels: n('channels', 3) as 1 | 3,
        seed: n('seed', 0),
      };
    }
    default:
      throw createError(
        'E_CONFIG',
        `data: unknown source '${kind}' (fashion-mnist, imagefolder:<dir>, recordio:<dir>, idx:<images>,<labels>, synthetic:...)`,
        'data',
      );
  }
}

export interface HeadFlags {
  head: string;
  mode?: string;
  t?: number;
  scale?: number;
  margin?: number;
  easyMargin?: boolean;
}

export function headFromFlags(f: HeadFlags): HeadConfig {
  const h: Record<string, unknown> = { type: f.head };
  if (f.mode !== undefined) h.mode = f.mode;
  if (f.t !== undefined) h.t = f.t;
  if (f.scale !== undefined) h.scale = f.scale;
  if (f.margin !== undefined) h.margin = f.margin;
  if (f.easyMargin) h.easyMargin = true;
  return h as HeadConfig;
}
