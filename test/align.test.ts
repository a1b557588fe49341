import { describe, expect, it } from 'vitest';
import { alignFaces } from '../lib/data/align';
import { encodePng, type Picture } from './fixtures';

const template = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
const background = 40;

/** A similarity: scale s, rotation by `degrees`, then a shift. */
function similarity(s: number, degrees: number, tx: number, ty: number) {
  const a = s * Math.cos((degrees * Math.PI) / 180),
    b = s * Math.sin((degrees * Math.PI) / 180);
  return ([x, y]: number[]) => [a * x - b * y + tx, b * x + a * y + ty];
}

/** A face of five bright Gaussian spots at `points` on a dark background. */
function spots(width: number, height: number, points: number[][], sigma: number): Picture {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = points.reduce((m, [px, py]) => Math.max(m, Math.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma * sigma))), 0);
      pixels.fill(Math.round(background + (255 - background) * v), (y * width + x) * 3, (y * width + x + 1) * 3);
    }
  }
  return { width, height, channels: 3, pixels, label: 0 };
}

/** The brightness-weighted centre of the first channel around (cx, cy), in a (2r+1)^2 window. */
function centroid(image: Float32Array, size: number, cx: number, cy: number, r = 5): number[] {
  let w = 0,
    sx = 0,
    sy = 0;
  for (let y = Math.round(cy) - r; y <= Math.round(cy) + r; y++) {
    for (let x = Math.round(cx) - r; x <= Math.round(cx) + r; x++) {
      const v = Math.max(0, image[y * size + x] * 128 + 127.5 - background);
      w += v;
      sx += v * x;
      sy += v * y;
    }
  }
  return [sx / w, sy / w];
}

describe('alignFaces', () => {
  for (const [name, t] of [
    ['scaled 1.6, rotated 23 degrees, shifted', similarity(1.6, 23, 40, 12)],
    ['scaled 0.8, rotated -35 degrees, shifted', similarity(0.8, -35, 20, 90)],
  ] as const) {
    it(`undoes a known similarity (${name}): the spots land on the template within 0.5 px`, async () => {
      const scale = name.startsWith('scaled 1.6') ? 1.6 : 0.8;
      const points = template.map(t);
      const png = encodePng(spots(240, 220, points, 2.5 * scale));
      const aligned = await alignFaces([png], [points.flat()]);
      expect(aligned).toMatchObject({ count: 1, channels: 3, height: 112, width: 112 });
      for (const [x, y] of template) {
        const [cx, cy] = centroid(aligned.images, 112, x, y);
        expect(Math.hypot(cx - x, cy - y)).toBeLessThan(0.5);
      }
    });
  }

  it('aligns to other sizes by the scaled template', async () => {
    const points = template.map(similarity(1, 10, 30, 30));
    const aligned = await alignFaces([encodePng(spots(180, 180, points, 2.5))], Float32Array.from(points.flat()), { size: 224 });
    const [cx, cy] = centroid(aligned.images, 224, template[2][0] * 2, template[2][1] * 2, 8);
    expect(Math.hypot(cx - template[2][0] * 2, cy - template[2][1] * 2)).toBeLessThan(0.5);
  });

  it('refuses landmarks that coincide, a wrong count, and values that are not finite (E_SHAPE)', async () => {
    const png = encodePng(spots(40, 40, [[20, 20]], 2));
    await expect(alignFaces([png], [Array(10).fill(7)])).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringContaining('coincide') });
    await expect(alignFaces([png, png], [Array(10).fill(7)])).rejects.toMatchObject({ code: 'E_SHAPE' });
    await expect(alignFaces([png], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, Number.NaN]))).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});
