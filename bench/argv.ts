/** The value after `flag` in a benchmark's arguments; the last one wins (gpu-check appends overrides). */
export function flagValue(argv: string[], flag: string): string | undefined {
  const at = argv.lastIndexOf(flag);
  return at >= 0 ? argv[at + 1] : undefined;
}
