/** Shared printing and saving of benchmark tables. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Row = Record<string, string | number | undefined>;

function cell(v: string | number | undefined): string {
  if (v === undefined) return 'n/a';
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);
}

export function formatTable(rows: Row[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const lines = [keys, keys.map(() => '---'), ...rows.map((r) => keys.map((k) => cell(r[k])))];
  return lines.map((l) => `| ${l.join(' | ')} |`).join('\n');
}

export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}\n${formatTable(rows)}\n`);
}

/** Writes bench/results/<name>-<date>.md with the machine, the settings and the table. */
export function saveResult(name: string, rows: Row[], settings: Record<string, unknown>): string {
  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const file = path.join(dir, `${name}-${date}.md`);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const text = `# ${name} benchmark, ${date}\n\nMachine: ${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB. Settings: ${JSON.stringify(settings)}.\n\n${formatTable(rows)}\n`;
  fs.writeFileSync(file, text);
  console.log(`saved ${path.relative(process.cwd(), file)}`);
  return file;
}

/** The Python with PyTorch for baselines: MVFACE_PYTHON, else Debian's /usr/bin/python3. */
export function python(): string | undefined {
  for (const py of [process.env.MVFACE_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      /* try the next */
    }
  }
  console.error('  PyTorch baseline skipped: no python3 with torch (Debian: apt-get install python3-torch)');
  return undefined;
}
