#!/usr/bin/env python3
"""The MV-Softmax head as peers write it: FaceX-Zoo's MV_Softmax (arc margin, adaptive re-weighting,
easy margin), eager PyTorch ops with autograd, or torch.compile of the same function (--compile).
Prints {"medianMs", "peakExtraBytes", "outputBytes"}: on the CPU peak RSS, on CUDA the caching
allocator's peak (torch.cuda.max_memory_allocated), above inputs and outputs (the gradients).

Usage: loss_eager.py --B 256 --D 512 --C 100000 --threads 2 --repeats 5 [--device cuda] [--compile]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


def mv_softmax_arc(x, weight, labels, s=32.0, m=0.5, t=1.2):
    cos_m, sin_m = math.cos(m), math.sin(m)
    kernel_norm = F.normalize(weight, dim=1)
    cos_theta = torch.mm(F.normalize(x), kernel_norm.t()).clamp(-1, 1)
    batch = x.size(0)
    gt = cos_theta[torch.arange(batch), labels].view(-1, 1)
    sin_theta = torch.sqrt(1.0 - torch.pow(gt, 2))
    cos_theta_m = gt * cos_m - sin_theta * sin_m
    mask = cos_theta > cos_theta_m
    final_gt = torch.where(gt > 0, cos_theta_m, gt)
    hard_vector = cos_theta[mask]
    cos_theta[mask] = t * hard_vector + t - 1.0
    cos_theta.scatter_(1, labels.data.view(-1, 1), final_gt)
    return F.cross_entropy(cos_theta * s, labels)


def vm_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--B', type=int, default=256)
    p.add_argument('--D', type=int, default=512)
    p.add_argument('--C', type=int, default=100000)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    p.add_argument('--compile', action='store_true', help='time torch.compile of the head')
    p.add_argument('--warmup', type=int, help='steps before measuring: default 1, 3 with --compile')
    return p.parse_args()


class Probe:
    """Peak memory above a baseline, and a clock that waits for the device."""

    def __init__(self, device):
        self.cuda = device == 'cuda'

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def reset(self):
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated()
        reset_peak()
        return vm_kib('VmRSS') * 1024

    def peak(self):
        self.sync()
        return torch.cuda.max_memory_allocated() if self.cuda else vm_kib('VmHWM') * 1024


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.B, a.D, device=a.device, requires_grad=True)
    weight = torch.randn(a.C, a.D, device=a.device, requires_grad=True)
    labels = torch.randint(0, a.C, (a.B,), device=a.device)
    head = torch.compile(mv_softmax_arc) if a.compile else mv_softmax_arc
    probe = Probe(a.device)

    def step():
        x.grad = None
        weight.grad = None
        head(x, weight, labels).backward()

    for _ in range(a.warmup or (3 if a.compile else 1)):
        step()
    x.grad = None
    weight.grad = None
    base = probe.reset()
    step()
    peak = probe.peak()
    output_bytes = (x.numel() + weight.numel()) * 4
    times = []
    for _ in range(a.repeats):
        probe.sync()
        t0 = time.perf_counter()
        step()
        probe.sync()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'medianMs': statistics.median(times), 'peakExtraBytes': peak - base - output_bytes,
                      'outputBytes': output_bytes, 'torch': torch.__version__, 'device': a.device,
                      'compiled': a.compile, 'matmulPrecision': torch.get_float32_matmul_precision()}))


if __name__ == '__main__':
    main()
