/**
 * One image of an identity: the face's SVG placed in a background with a random pose and occluder,
 * rasterised by resvg, then lit, tinted, blurred and made noisy on the pixels. Every random choice
 * comes from the image's own Rng, in a fixed order.
 */
import type { Rng } from './random';

/**
 * The largest nuisance of each kind; an image draws each one uniformly up to it (or, for the
 * probabilities, with it). `variationFor(difficulty)` scales all of them together.
 */
export interface Variation {
  /** In-plane rotation, degrees. */
  rotation: number;
  /** Zoom, as |log scale|. */
  scale: number;
  /** Shift, as a fraction of the image side, on each axis. */
  shift: number;
  /** Head turn, drawn as a horizontal squeeze of up to this fraction. */
  yaw: number;
  /** Probability that the expression changes (eye and brow angles, sometimes the mouth). */
  expression: number;
  /** How far the background strays from plain grey toward a random colour gradient, 0 to 1. */
  background: number;
  /** Brightness offset, grey levels. */
  brightness: number;
  /** Contrast, as |log factor|. */
  contrast: number;
  /** Colour cast, as |log gain| of each channel. */
  colorCast: number;
  /** Side light: the gain changes by up to this fraction from the image centre to its edge. */
  light: number;
  /** Probability of a greyscale image. */
  grayscale: number;
  /** Gaussian blur sigma, pixels at 112 x 112 (scaled with the size). */
  blur: number;
  /** Gaussian pixel noise sigma, grey levels. */
  noise: number;
  /** Probability of an occluder: sunglasses, a mask over mouth and chin, or a random block. */
  occlusion: number;
}

/** The ranges at difficulty 1; difficulty d scales each by d (probabilities are capped at 1). */
export const variationAtOne: Readonly<Variation> = {
  rotation: 20,
  scale: 0.15,
  shift: 0.08,
  yaw: 0.25,
  expression: 0.6,
  background: 1,
  brightness: 40,
  contrast: 0.4,
  colorCast: 0.2,
  light: 0.6,
  grayscale: 0.15,
  blur: 1.6,
  noise: 14,
  occlusion: 0.5,
};

const probabilities: ReadonlySet<keyof Variation> = new Set(['expression', 'grayscale', 'occlusion', 'background']);

export function variationFor(difficulty: number): Variation {
  const out = {} as Variation;
  for (const key of Object.keys(variationAtOne) as Array<keyof Variation>) {
    const v = variationAtOne[key] * difficulty;
    out[key] = probabilities.has(key) ? Math.min(1, v) : v;
  }
  return out;
}

/** The crop of facesjs's 400 x 600 frame that the images show: hairline to chin, eyes at 0.44. */
const frame = { x: 20, y: 150, side: 360 };
const centre = { x: frame.x + frame.side / 2, y: frame.y + frame.side / 2 };

type Occluder =
  | { kind: 'none' }
  | { kind: 'sunglasses'; shade: number; lift: number }
  | { kind: 'mask'; colour: string }
  | { kind: 'block'; colour: string; x: number; y: number; w: number; h: number };

export interface ImageParams {
  rotation: number;
  scale: number;
  shift: [number, number];
  squeeze: number;
  background: [string, string];
  backgroundAngle: number;
  occluder: Occluder;
  gain: [number, number, number];
  contrast: number;
  brightness: number;
  light: { amplitude: number; dx: number; dy: number };
  grayscale: boolean;
  blur: number;
  noise: number;
}

function hex(rgb: readonly number[]): string {
  return `#${rgb
    .map((v) =>
      Math.max(0, Math.min(255, Math.round(v)))
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

/** A colour `amount` of the way from mid grey to a random one. */
function strayColour(rng: Rng, amount: number): string {
  return hex([0, 1, 2].map(() => 128 + amount * (rng.uniform(0, 255) - 128)));
}

export function drawParams(rng: Rng, v: Variation): ImageParams {
  const rotation = rng.symmetric(v.rotation);
  const scale = Math.exp(rng.symmetric(v.scale));
  const shift: [number, number] = [rng.symmetric(v.shift), rng.symmetric(v.shift)];
  const squeeze = 1 - rng.uniform(0, v.yaw);
  const background: [string, string] = [strayColour(rng, v.background), strayColour(rng, v.background)];
  const backgroundAngle = rng.uniform(0, 360);
  let occluder: Occluder = { kind: 'none' };
  if (rng.chance(v.occlusion)) {
    const kind = rng.int(3);
    if (kind === 0) occluder = { kind: 'sunglasses', shade: rng.uniform(10, 60), lift: rng.symmetric(8) };
    else if (kind === 1) occluder = { kind: 'mask', colour: rng.pick(['#f4f4f4', '#cfe3f2', '#9bb7d4', '#2b2b2b', '#7fa37a']) };
    else {
      const w = rng.uniform(0.2, 0.45);
      const h = rng.uniform(0.2, 0.45);
      occluder = {
        kind: 'block',
        colour: hex([rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)]),
        w,
        h,
        x: rng.uniform(0, 1 - w),
        y: rng.uniform(0, 1 - h),
      };
    }
  }
  const gain: [number, number, number] = [0, 1, 2].map(() => Math.exp(rng.symmetric(v.colorCast))) as [number, number, number];
  const contrast = Math.exp(rng.symmetric(v.contrast));
  const brightness = rng.symmetric(v.brightness);
  const angle = rng.uniform(0, 2 * Math.PI);
  const light = { amplitude: rng.uniform(0, v.light), dx: Math.cos(angle), dy: Math.sin(angle) };
  const grayscale = rng.chance(v.grayscale);
  const blur = rng.uniform(0, v.blur);
  const noise = rng.uniform(0, v.noise);
  return { rotation, scale, shift, squeeze, background, backgroundAngle, occluder, gain, contrast, brightness, light, grayscale, blur, noise };
}

const f3 = (x: number): string => x.toFixed(3);

/** The image's SVG: background, posed face (and a face-bound occluder), a free occluder on top. */
export function composeSvg(faceBody: string, p: ImageParams, size: number): string {
  const { x, y, side } = frame;
  const tx = centre.x + p.shift[0] * side;
  const ty = centre.y + p.shift[1] * side;
  const pose = `translate(${f3(tx)} ${f3(ty)}) rotate(${f3(p.rotation)}) scale(${f3(p.scale * p.squeeze)} ${f3(p.scale)}) translate(${-centre.x} ${-centre.y})`;
  const a = (p.backgroundAngle * Math.PI) / 180;
  const gradient =
    `<linearGradient id="mvface-bg" x1="${f3(0.5 - 0.5 * Math.cos(a))}" y1="${f3(0.5 - 0.5 * Math.sin(a))}" x2="${f3(0.5 + 0.5 * Math.cos(a))}" y2="${f3(0.5 + 0.5 * Math.sin(a))}">` +
    `<stop offset="0" stop-color="${p.background[0]}"/><stop offset="1" stop-color="${p.background[1]}"/></linearGradient>`;
  const o = p.occluder;
  let attached = '';
  let free = '';
  if (o.kind === 'sunglasses') {
    const g = hex([o.shade, o.shade, o.shade]);
    const ey = 310 + o.lift;
    attached = `<g fill="${g}" stroke="#111" stroke-width="4"><rect x="105" y="${f3(ey - 28)}" width="90" height="56" rx="18"/><rect x="205" y="${f3(ey - 28)}" width="90" height="56" rx="18"/><rect x="185" y="${f3(ey - 10)}" width="30" height="10"/></g>`;
  } else if (o.kind === 'mask') {
    attached = `<path fill="${o.colour}" stroke="#333" stroke-width="3" d="M88 392 Q200 368 312 392 L306 468 Q200 540 94 468 Z"/>`;
  } else if (o.kind === 'block') {
    free = `<rect x="${f3(x + o.x * side)}" y="${f3(y + o.y * side)}" width="${f3(o.w * side)}" height="${f3(o.h * side)}" fill="${o.colour}"/>`;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="${x} ${y} ${side} ${side}">` +
    `<defs>${gradient}</defs><rect x="${x}" y="${y}" width="${side}" height="${side}" fill="url(#mvface-bg)"/>` +
    `<g transform="${pose}">${faceBody}${attached}</g>${free}</svg>`
  );
}

/** Separable Gaussian blur of a planar float image (channels x size x size), clamped at the edges. */
function blur(planes: Float32Array, size: number, sigma: number): void {
  const radius = Math.ceil(3 * sigma);
  const taps = 2 * radius + 1;
  const kernel = new Float32Array(taps);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < taps; i++) kernel[i] /= sum;
  const padded = new Float32Array(size + 2 * radius);
  const n = size * size;
  for (let pass = 0; pass < 2; pass++) {
    const step = pass === 0 ? 1 : size;
    const across = pass === 0 ? size : 1;
    for (let l = 0; l < (planes.length / n) * size; l++) {
      const start = Math.floor(l / size) * n + (l % size) * across;
      for (let i = 0; i < size; i++) padded[radius + i] = planes[start + i * step];
      for (let i = 0; i < radius; i++) {
        padded[i] = padded[radius];
        padded[radius + size + i] = padded[radius + size - 1];
      }
      for (let i = 0; i < size; i++) {
        let acc = 0;
        for (let k = 0; k < taps; k++) acc += kernel[k] * padded[i + k];
        planes[start + i * step] = acc;
      }
    }
  }
}

/** Lighting, colour, blur and noise on resvg's RGBA output; returns RGB (HWC). */
export function finishPixels(rgba: Uint8Array, size: number, p: ImageParams, rng: Rng): Uint8Array {
  const n = size * size;
  const planes = new Float32Array(3 * n);
  const half = (size - 1) / 2;
  const [gr, gg, gb] = p.gain;
  const { contrast } = p;
  const offset = 128 + p.brightness;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const light = 1 + p.light.amplitude * (((x - half) * p.light.dx + (y - half) * p.light.dy) / half);
      const r = (rgba[4 * i] * gr * light - 128) * contrast + offset;
      const g = (rgba[4 * i + 1] * gg * light - 128) * contrast + offset;
      const b = (rgba[4 * i + 2] * gb * light - 128) * contrast + offset;
      if (p.grayscale) {
        const grey = 0.299 * r + 0.587 * g + 0.114 * b;
        planes[i] = planes[n + i] = planes[2 * n + i] = grey;
      } else {
        planes[i] = r;
        planes[n + i] = g;
        planes[2 * n + i] = b;
      }
    }
  }
  const sigma = (p.blur * size) / 112;
  if (sigma >= 0.3) blur(planes, size, sigma);
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    const shared = p.grayscale && p.noise > 0 ? p.noise * rng.normal() : 0;
    for (let c = 0; c < 3; c++) {
      const v = planes[c * n + i] + (p.grayscale ? shared : p.noise > 0 ? p.noise * rng.normal() : 0);
      out[3 * i + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return out;
}
