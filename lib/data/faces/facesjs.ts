/**
 * Identities from facesjs (random cartoon-face descriptors rendered as SVG). facesjs is an ES module
 * and the library compiles to CommonJS: see loadFacesjs().
 * Its generate() draws from Math.random: it is called with Math.random swapped for a seeded stream
 * (synchronously, so nothing else runs meanwhile), which fixes each identity by (seed, index).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Rng } from './random';

/** The part of facesjs's FaceConfig this module reads or changes; the rest passes through. */
export interface FaceConfig {
  fatness: number;
  body: { id: string; color: string; size: number };
  ear: { id: string; size: number };
  head: { id: string; shave: string };
  eyeLine: { id: string };
  smileLine: { id: string; size: number };
  miscLine: { id: string };
  facialHair: { id: string };
  eye: { id: string; angle: number };
  eyebrow: { id: string; angle: number };
  hair: { id: string; color: string; flip: boolean };
  mouth: { id: string; flip: boolean };
  nose: { id: string; flip: boolean; size: number };
  glasses: { id: string };
  accessories: { id: string };
  [key: string]: unknown;
}

interface FacesModule {
  generate(overrides?: unknown, options?: { gender?: 'male' | 'female'; race?: string }): FaceConfig;
  faceToSvgString(face: FaceConfig): string;
  svgsIndex: Record<string, readonly string[]>;
}

// A real import() in the compiled CommonJS (tsc would turn a literal one into require()).
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

let loading: Promise<FacesModule> | undefined;

/**
 * facesjs, by require() where Node loads ES modules that way (20.19 and later, 22.12 and later;
 * also the only way that works inside vitest's module runner), else by import().
 */
export function loadFacesjs(): Promise<FacesModule> {
  loading ??= (async () => {
    try {
      return require('facesjs') as FacesModule;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_REQUIRE_ESM') throw e;
      return (await importModule(pathToFileURL(require.resolve('facesjs')).href)) as FacesModule;
    }
  })();
  return loading;
}

export function facesjsVersion(): string {
  // The exports map hides package.json; read it next to the resolved entry point (build/index.js).
  const file = path.join(path.dirname(require.resolve('facesjs')), '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

function withRandom<T>(rng: Rng, f: () => T): T {
  const saved = Math.random;
  Math.random = () => rng.next();
  try {
    return f();
  } finally {
    Math.random = saved;
  }
}

/** The features that can be seen in the face crop, for telling identities apart. */
export function visibleTraits(face: FaceConfig): string[] {
  return [
    face.head.id,
    face.body.color,
    face.ear.id,
    face.eye.id,
    face.eyebrow.id,
    face.nose.id,
    face.mouth.id,
    face.hair.id,
    face.hair.color,
    face.facialHair.id,
    face.glasses.id,
    face.accessories.id,
    face.eyeLine.id,
    face.smileLine.id,
    face.miscLine.id,
  ];
}

/** A random identity from `rng`: facesjs's own distribution, gender drawn 50/50. */
export function drawFace(facesjs: FacesModule, rng: Rng): FaceConfig {
  const gender = rng.chance(0.5) ? 'female' : 'male';
  return withRandom(rng, () => facesjs.generate(undefined, { gender }));
}

/** The face's SVG without its outer <svg> element: shapes in facesjs's 400 x 600 frame. */
export function faceBody(facesjs: FacesModule, face: FaceConfig): string {
  const svg = facesjs.faceToSvgString(face);
  const open = svg.indexOf('>', svg.indexOf('<svg'));
  const close = svg.lastIndexOf('</svg>');
  if (open < 0 || close < open) throw new Error('facesjs returned an SVG without an <svg> element');
  return svg.slice(open + 1, close);
}
