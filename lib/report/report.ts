/**
 * `mvface report`: <run>/report/index.html, one self-contained page (inline SVG charts, no external
 * assets), plus each chart as .svg and .png: loss, learning rate, hard fraction and eval curves from
 * log.jsonl, and the ROC (log FAR axis) of each set in eval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { escapeXml, lineChart, type Series } from './charts';
import { createError } from '../errors';
import { type EvalReport, readEvalReport } from '../eval/evaluate';
import { farLevels } from '../eval/metrics';
import { runPaths } from '../train/run-files';

type LogRecord = Record<string, unknown> & { event?: string; step?: number };

export interface ReportFiles {
  dir: string;
  index: string;
  /** Chart name -> its .svg and .png files. */
  charts: Record<string, { svg: string; png: string }>;
}

/** The run's log records; a half-written last line (a crash mid-write) is ignored. */
export function readLog(file: string): LogRecord[] {
  if (!fs.existsSync(file)) throw createError('E_IO', `${file}: no training log (is this a run folder?)`, file);
  const out: LogRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    try {
      if (line.trim()) out.push(JSON.parse(line) as LogRecord);
    } catch {
      /* a torn line */
    }
  }
  return out;
}

/** One y value per step (the last logged wins: a resumed run may log a step again). */
function byStep(records: LogRecord[], key: string): { x: number[]; y: number[] } {
  const values = new Map<number, number>();
  for (const r of records) if (typeof r.step === 'number' && typeof r[key] === 'number') values.set(r.step, r[key] as number);
  const steps = [...values.keys()].sort((a, b) => a - b);
  return { x: steps, y: steps.map((s) => values.get(s)!) };
}

function evalSeries(log: LogRecord[]): Series[] {
  const evals = log.filter((r) => r.event === 'eval');
  const names = [...new Set(evals.map((r) => String(r.name)))];
  const series = names.map((name) => ({
    label: name,
    ...byStep(
      evals.filter((r) => r.name === name),
      'accuracy',
    ),
  }));
  const steps = log.filter((r) => r.event === 'step');
  const perEpoch = steps.length ? Number(steps[steps.length - 1].stepsPerEpoch) : 0;
  const epochs = log.filter((r) => r.event === 'epoch' && typeof r.closedSetAccuracy === 'number');
  if (epochs.length && perEpoch) {
    series.push({ label: 'closed-set', x: epochs.map((r) => (Number(r.epoch) + 1) * perEpoch), y: epochs.map((r) => r.closedSetAccuracy as number) });
  }
  return series;
}

function charts(log: LogRecord[], evalReport: EvalReport | undefined): Record<string, string> {
  const steps = log.filter((r) => r.event === 'step');
  const one = (label: string, key: string) => [{ label, ...byStep(steps, key) }];
  const out: Record<string, string> = {
    loss: lineChart(one('loss', 'loss'), { title: 'Training loss', xLabel: 'step', yLabel: 'loss' }),
    'learning-rate': lineChart(one('lr', 'lr'), { title: 'Learning rate', xLabel: 'step', yLabel: 'lr' }),
    'hard-fraction': lineChart(one('hard fraction', 'hardFraction'), { title: 'Hard (mis-classified) vectors', xLabel: 'step', yLabel: 'share of negatives' }),
    eval: lineChart(evalSeries(log), { title: 'Evaluation during training', xLabel: 'step', yLabel: 'accuracy', legend: true }),
  };
  const sets = evalReport?.sets ?? [];
  if (sets.length) {
    const series = sets.map((s) => ({ label: s.name, x: s.verification.roc.far, y: s.verification.roc.tar }));
    out.roc = lineChart(series, {
      title: 'ROC',
      xLabel: 'false accept rate (FAR)',
      yLabel: 'true accept rate (TAR)',
      logX: true,
      yRange: [0, 1],
      legend: true,
    });
  }
  return out;
}

async function writePng(svg: string, file: string): Promise<void> {
  const { Resvg } = await import('@resvg/resvg-js');
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: '#ffffff', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
  fs.writeFileSync(file, png);
}

const num = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));

function metricsTable(report: EvalReport | undefined): string {
  if (!report?.sets.length) return '<p>No eval.json yet: run <code>mvface eval --run &lt;run&gt; ...</code> first.</p>';
  const head = ['set', 'pairs', 'accuracy', 'AUC', 'EER', ...farLevels.map((f) => `TAR@${f}`), 'rank-1', 'rank-5'];
  const rows = report.sets.map((s) => {
    const v = s.verification;
    return [
      s.name,
      String(v.pairs),
      `${num(v.accuracy)} ± ${num(v.std)}`,
      num(v.auc),
      num(v.eer),
      ...farLevels.map((f) => num(v.tarAtFar[f])),
      num(s.identification?.rank1),
      num(s.identification?.rank5),
    ];
  });
  const tr = (cells: string[], tag: string) => `<tr>${cells.map((c) => `<${tag}>${escapeXml(c)}</${tag}>`).join('')}</tr>`;
  return `<p>Checkpoint at step ${report.step}, evaluated ${escapeXml(report.time)}.</p>\n<table>${tr(head, 'th')}${rows.map((r) => tr(r, 'td')).join('')}</table>`;
}

function configLines(runDir: string): string {
  const paths = runPaths(runDir);
  const read = (f: string) => (fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) : undefined);
  const config = read(paths.config);
  const summary = read(paths.summary);
  const items = config
    ? ['backbone', 'head', 'data', 'epochs', 'batchSize', 'optimizer', 'schedule', 'seed'].filter((k) => config[k] !== undefined).map((k) => [k, config[k]])
    : [];
  const list = items.map(([k, v]) => `<li><b>${escapeXml(String(k))}</b>: <code>${escapeXml(JSON.stringify(v))}</code></li>`).join('');
  const summaryBlock = summary ? `<h2>Summary</h2><pre>${escapeXml(JSON.stringify(summary, null, 2))}</pre>` : '';
  return `<ul>${list}</ul>${summaryBlock}`;
}

function page(runDir: string, svgs: Record<string, string>, report: EvalReport | undefined): string {
  const figures = Object.entries(svgs)
    .map(([name, svg]) => `<figure id="${name}">${svg}</figure>`)
    .join('\n');
  const title = `mvface run ${path.basename(path.resolve(runDir))}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 24px; color: #222; background: #fafafa; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0 16px; background: #fff; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }
td:first-child, th:first-child { text-align: left; }
pre { background: #fff; border: 1px solid #ddd; padding: 8px; font-size: 12px; }
</style></head>
<body>
<h1>${escapeXml(title)}</h1>
${configLines(runDir)}
<h2>Evaluation</h2>
${metricsTable(report)}
<h2>Charts</h2>
<div class="charts">
${figures}
</div>
</body></html>
`;
}

/** Writes <run>/report/: index.html and every chart as .svg and .png. */
export async function writeReport(runDir: string): Promise<ReportFiles> {
  const log = readLog(runPaths(runDir).log);
  const report = readEvalReport(runDir);
  const dir = path.join(runDir, 'report');
  fs.mkdirSync(dir, { recursive: true });
  const svgs = charts(log, report);
  const files: ReportFiles = { dir, index: path.join(dir, 'index.html'), charts: {} };
  for (const [name, svg] of Object.entries(svgs)) {
    const svgFile = path.join(dir, `${name}.svg`),
      pngFile = path.join(dir, `${name}.png`);
    fs.writeFileSync(svgFile, svg);
    await writePng(svg, pngFile);
    files.charts[name] = { svg: svgFile, png: pngFile };
  }
  fs.writeFileSync(files.index, page(runDir, svgs, report));
  return files;
}
