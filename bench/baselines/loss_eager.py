#!/usr/bin/env python3
"""The MV-Softmax head as peers write it: FaceX-Zoo's MV_Softmax (arc margin, adaptive re-weighting,
easy margin), eager PyTorch ops with autograd. Prints {"medianMs", "peakExtraBytes", "outputBytes"}.

Usage: loss_eager.py --B 256 --D 512 --C 100000 --threads 2 --repeats 5
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--B', type=int, default=256)
    p.add_argument('--D', type=int, default=512)
    p.add_argument('--C', type=int, default=100000)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.B, a.D, requires_grad=True)
    weight = torch.randn(a.C, a.D, requires_grad=True)
    labels = torch.randint(0, a.C, (a.B,))

    def step():
        x.grad = None
        weight.grad = None
        mv_softmax_arc(x, weight, labels).backward()

    step()
    x.grad = None
    weight.grad = None
    reset_peak()
    base = vm_kib('VmRSS')
    step()
    peak = vm_kib('VmHWM')
    output_bytes = (x.numel() + weight.numel()) * 4
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'medianMs': statistics.median(times), 'peakExtraBytes': (peak - base) * 1024 - output_bytes,
                      'outputBytes': output_bytes, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
