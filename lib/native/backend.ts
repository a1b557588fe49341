import { createError } from '../errors';
import { native, nativeLocation, packageVersion } from './addon';
import type { NativeBackendInfo } from './types';

/** The native backend: the libtorch and binary in use, CUDA, BLAS, threads and kernel flags. */
export interface BackendInfo extends Omit<NativeBackendInfo, 'addonVersion'> {
  /** mvface's package version. */
  version: string;
  /** The native binary in use and whether it is a prebuild or the local build. */
  binary: { file: string; kind: string };
}

export function backendInfo(): BackendInfo {
  const { addonVersion: _, ...info } = native().backendInfo();
  return { version: packageVersion(), ...info, binary: nativeLocation()! };
}

/** Sets the intra-op thread count of the native core (ATen and OpenBLAS). */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw createError('E_CONFIG', 'threads: must be an integer >= 1', 'threads');
  }
  native().setThreads(threads);
}
