import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linearTicks, lineChart, thin } from '../lib/report/charts';
import { IoError } from '../lib/errors';
import { evaluate } from '../lib/eval/evaluate';
import { type ReportFiles, writeReport } from '../lib/report/report';
import { Trainer } from '../lib/train/trainer';
import { syntheticData, tinyRun } from './eval-fixtures';

const chromium = '/usr/bin/chromium';
const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-report-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

/** Distinct colours among the pixels (RGBA words). */
function colours(png: PNG): number {
  const seen = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) seen.add(png.data.readUInt32BE(i));
  return seen.size;
}

describe('charts', () => {
  it('picks round ticks and thins long series by bucket means', () => {
    expect(linearTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(3, 47)).toEqual([10, 20, 30, 40]);
    const t = thin([0, 1, 2, 3, 4, 5], [1, 3, 5, 7, 9, 11], 3);
    expect(t).toEqual({ x: [0.5, 2.5, 4.5], y: [2, 6, 10] });
  });

  it('draws a line per series, log ticks at powers of ten, and escapes text', () => {
    const svg = lineChart(
      [
        { label: 'a<b', x: [1e-3, 1e-2, 1], y: [0.1, 0.5, 1] },
        { label: 'c', x: [], y: [] },
      ],
      { title: 'T & U', xLabel: 'x', yLabel: 'y', logX: true },
    );
    expect(svg.match(/<path /g)).toHaveLength(1);
    for (const tick of ['1e-3', '1e-2', '1e-1', '1e0']) expect(svg).toContain(`>${tick}</text>`);
    expect(svg).toContain('T &#38; U');
    expect(svg).toContain('a&#60;b');
  });
});

describe('report', () => {
  let files: ReportFiles;
  beforeAll(async () => {
    const data = { kind: 'data', data: syntheticData, pairs: 60, seed: 1 } as const;
    const trainer = await Trainer.create(tinyRun(runsDir, 'r', { eval: { every: 3, sets: [data] } }));
    await trainer.fit();
    trainer.dispose();
    await evaluate({ run: path.join(runsDir, 'r'), sets: [data] });
    files = await writeReport(path.join(runsDir, 'r'));
  });

  it('writes every chart as SVG and PNG, and one self-contained page', () => {
    expect(Object.keys(files.charts)).toEqual(['loss', 'learning-rate', 'hard-fraction', 'eval', 'roc']);
    for (const { svg, png } of Object.values(files.charts)) {
      expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg [\s\S]*<path [\s\S]*<\/svg>$/);
      const image = PNG.sync.read(fs.readFileSync(png));
      expect(image.width).toBe(1120);
      expect(colours(image)).toBeGreaterThan(20);
    }
    const html = fs.readFileSync(files.index, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(5);
    expect(html).not.toMatch(/<(script|link|img|iframe)\b|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('synthetic-pairs');
  });

  it('needs a run folder with a log', async () => {
    await expect(writeReport(path.join(runsDir, 'nothing'))).rejects.toThrow(IoError);
  });

  it.skipIf(!fs.existsSync(chromium))('renders in headless Chromium (apt-get install chromium)', () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-chromium-'));
    const shot = path.join(runsDir, 'shot.png');
    try {
      execFileSync(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${profile}`,
          `--screenshot=${shot}`,
          '--window-size=1200,900',
          `file://${path.resolve(files.index)}`,
        ],
        { stdio: 'ignore', timeout: 60_000 },
      );
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
    const png = PNG.sync.read(fs.readFileSync(shot));
    expect([png.width, png.height]).toEqual([1200, 900]);
    expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
    // Text, tables and charts: many colours, and the page is not mostly one colour.
    expect(colours(png)).toBeGreaterThan(50);
    const counts = new Map<number, number>();
    for (let i = 0; i < png.data.length; i += 4) counts.set(png.data.readUInt32BE(i), (counts.get(png.data.readUInt32BE(i)) ?? 0) + 1);
    expect(Math.max(...counts.values()) / (png.width * png.height)).toBeLessThan(0.95);
    // The inline SVG charts were drawn: pixels of the first series colour (#1f77b4) in the screenshot.
    let lines = 0;
    for (let i = 0; i < png.data.length; i += 4)
      if (Math.abs(png.data[i] - 0x1f) + Math.abs(png.data[i + 1] - 0x77) + Math.abs(png.data[i + 2] - 0xb4) < 30) lines++;
    expect(lines).toBeGreaterThan(300);
  });
});
