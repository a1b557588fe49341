/** Which device a trainer runs on: 'auto', 'cuda' with a process group's local rank, 'cuda:N'. */
import { createError } from '../errors';
import { native } from '../native/addon';
import type { Device } from './config';

/** 'cpu', 'cuda', 'cuda:N' or 'auto'. */
export function isDevice(value: unknown): value is Device {
  return typeof value === 'string' && /^(cpu|cuda|auto|cuda:\d{1,3})$/.test(value);
}

/**
 * The native trainer's device: 'cpu', 'cuda' or 'cuda:N'. `cudaDevices` is how many GPUs this
 * process sees; `localRank` (with a process group) picks the rank's own. E_CONFIG for a device
 * that is not there (without any GPU, 'cuda' is left for the native side to refuse with its reason).
 */
export function resolveDevice(device: Device, cudaDevices: number, localRank?: number): string {
  if (!isDevice(device)) throw createError('E_CONFIG', `device: must be 'cpu', 'cuda', 'cuda:N' or 'auto', got ${String(device)}`, 'device');
  const wanted = device === 'auto' ? (cudaDevices > 0 ? 'cuda' : 'cpu') : device;
  if (wanted === 'cpu') return 'cpu';
  if (cudaDevices === 0) return wanted;
  const indexed = wanted !== 'cuda';
  const index = indexed ? Number(wanted.slice('cuda:'.length)) : (localRank ?? 0);
  if (index >= cudaDevices) {
    const why = indexed ? `'${wanted}'` : `LOCAL_RANK ${index} (one process per GPU)`;
    throw createError('E_CONFIG', `device: ${why} asked for, but this machine has ${cudaDevices} CUDA device(s)`, 'device');
  }
  return `cuda:${index}`;
}

/** resolveDevice on this process's GPUs. */
export function pickDevice(device: Device, localRank?: number): string {
  return resolveDevice(device, native().backendInfo().cudaDevices.length, localRank);
}
