/** The comparison's markdown tables: mean ± std per head, and each MV head's paired difference from its baseline. */
import type { CompareCell, HeadEntry } from './compare';
import { type PairedDifference, pairedDifference } from './paired';

type Metric = 'accuracy' | 'tar1e3' | 'tar1e4' | 'rank1';
const metrics: Metric[] = ['accuracy', 'tar1e3', 'tar1e4', 'rank1'];
const header = ['| head | verification accuracy | TAR@FAR=1e-3 | TAR@FAR=1e-4 | rank-1 |', '| --- | --- | --- | --- | --- |'];

function meanStd(values: Array<number | null>): string {
  const v = values.filter((x): x is number => x !== null);
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  return `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
}

/** A markdown table per dataset: mean ± std over seeds, in percent. */
export function formatCompareTable(cells: CompareCell[]): string {
  const out: string[] = [];
  for (const dataset of [...new Set(cells.map((c) => c.dataset))]) {
    const seeds = new Set(cells.filter((c) => c.dataset === dataset).map((c) => c.seed)).size;
    out.push(
      `**${dataset}** (mean ± std over ${seeds} seed${seeds > 1 ? 's' : ''}, %; accuracy: 10-fold on balanced pairs; TAR: over all pairs of test images)`,
      '',
    );
    out.push(...header);
    for (const head of [...new Set(cells.map((c) => c.head))]) {
      const rows = cells.filter((c) => c.dataset === dataset && c.head === head);
      out.push(`| ${head} | ${metrics.map((m) => meanStd(rows.map((r) => r[m]))).join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`;

function pairedCell(d: PairedDifference | null): string {
  if (d === null) return 'n/a';
  return `${signed(d.mean)} [${signed(d.low)}, ${signed(d.high)}] ${d.verdict === 'within noise' ? 'within noise' : `**${d.verdict}**`}`;
}

/** What the all-pairs TARs rest on, from the first cell of the data set. */
function pairCounts(cells: CompareCell[]): string {
  const c = cells.find((x) => x.negatives !== null && x.positives !== null && x.testImages !== null);
  if (!c || c.negatives === null) return '';
  return `; all pairs of ${c.testImages} held-out images: ${c.positives} same-identity and ${c.negatives} different-identity pairs, so TAR@FAR=1e-4 sits above the ${Math.floor(1e-4 * c.negatives)} highest-scoring different-identity pairs`;
}

/**
 * Per data set, each head with a baseline against it: the mean over seeds of (head - baseline), in
 * percentage points, with its 95% confidence interval; "better" or "worse" where the interval excludes 0.
 */
export function formatPairedTable(cells: CompareCell[], heads: HeadEntry[]): string {
  const out: string[] = [];
  const compared = heads.filter((h) => h.baseline !== undefined);
  for (const dataset of [...new Set(cells.map((c) => c.dataset))]) {
    const own = cells.filter((c) => c.dataset === dataset);
    const seeds = [...new Set(own.map((c) => c.seed))].sort((a, b) => a - b);
    out.push(
      `**${dataset}**: paired differences, head minus its baseline on the same seed and data (mean over ${seeds.length} seeds, percentage points, [95% confidence interval, Student's t]${pairCounts(own)})`,
      '',
      ...header,
    );
    for (const h of compared) {
      const value = (head: string, seed: number, m: Metric): number | null => own.find((c) => c.head === head && c.seed === seed)?.[m] ?? null;
      const row = metrics.map((m) =>
        pairedCell(
          pairedDifference(
            seeds.map((s) => value(h.name, s, m)),
            seeds.map((s) => value(h.baseline as string, s, m)),
          ),
        ),
      );
      out.push(`| ${h.name} − ${h.baseline} | ${row.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
