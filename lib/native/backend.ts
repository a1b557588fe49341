import * as fs from 'node:fs';
import * as path from 'node:path';
import { createError } from '../errors';
import { native, nativeLocation, packageRoot } from './addon';

export interface BackendInfo {
  /** mvface's package version. */
  version: string;
  libtorchVersion: string;
  /** Where the build found libtorch: 'LIBTORCH' (a folder), 'pytorch' (LIBTORCH_USE_PYTORCH=1) or 'system'. */
  libtorchSource: string;
  /** The tag that pins the binary to its libtorch, e.g. torch1_13_0_system_cpu. */
  libtorchTag: string;
  /** The native binary in use and whether it is a prebuild or the local build. */
  binary: { file: string; kind: string };
  builtWithCuda: boolean;
  cudaAvailable: boolean;
  cudaDevices: string[];
  /** The BLAS library loaded in this process. */
  blas: string;
  /** Intra-op threads (defaults to the machine's cores or MVFACE_NUM_THREADS). */
  threads: number;
  /** Whether libtorch's oneDNN kernels (convolutions, bfloat16 matrix products) run on the CPU; MVFACE_ONEDNN=0 turns them off. */
  onednn: boolean;
  /**
   * TensorFloat-32 allowed in cuDNN's convolutions and cuBLAS's float32 matrix products: libtorch's
   * defaults, MVFACE_TF32=0 or 1 at load, or the last Trainer's `tf32` option.
   */
  tf32: { cudnn: boolean; cublas: boolean };
}

function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
}

export function backendInfo(): BackendInfo {
  const info = native().backendInfo();
  return {
    version: packageVersion(),
    libtorchVersion: info.libtorchVersion,
    libtorchSource: info.libtorchSource,
    libtorchTag: info.libtorchTag,
    binary: nativeLocation()!,
    builtWithCuda: info.builtWithCuda,
    cudaAvailable: info.cudaAvailable,
    cudaDevices: info.cudaDevices,
    blas: info.blas,
    threads: info.threads,
    onednn: info.onednn,
    tf32: info.tf32,
  };
}

/** Sets the intra-op thread count of the native core (ATen and OpenBLAS). */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw createError('E_CONFIG', 'threads: must be an integer >= 1', 'threads');
  }
  native().setThreads(threads);
}
