/** Peak-memory probes for benchmark workers: Linux's VmHWM, reset through /proc/self/clear_refs. */
import * as fs from 'node:fs';

function statusKiB(field: string): number {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

export function resetPeak(): number {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux or not permitted: the peak then includes earlier work */
  }
  return statusKiB('VmRSS') * 1024;
}

export function peakBytes(): number {
  return statusKiB('VmHWM') * 1024;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
