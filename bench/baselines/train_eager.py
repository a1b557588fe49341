#!/usr/bin/env python3
"""The training step as peers write it in PyTorch: a backbone (the twin of mvface's, from
python/mvface_backbones.py), FaceX-Zoo's MV-Softmax head (am or arc margin, adaptive re-weighting) in float32, SGD
with momentum and weight decay (none on BN weights and biases). Feeds one fixed random batch that is
already on the device, so data loading costs it nothing. Optional: CUDA, autocast of the backbone
(bf16, or fp16 with a GradScaler), channels-last, torch.compile of backbone + head. Prints
{"samplesPerSecond", "stepMs", "peakBytes", ...}: peakBytes is CUDA's max allocated, or the peak RSS.

Usage: train_eager.py --backbone mobilefacenet --batch 32 --classes 100 --threads 2 --steps 8
       train_eager.py --device cuda --backbone iresnet50 --batch 256 --precision bf16 --head mv-arc [--compile]
"""
import argparse
import contextlib
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))
import mvface_backbones as backbones  # noqa: E402


class MvSoftmax(torch.nn.Module):
    """FaceX-Zoo's MV_Softmax, adaptive: the target gets the margin (am: cos - m; arc: cos(theta + m)
    with the ArcFace threshold), negatives above the target's margined cosine become t cos + t - 1.
    Written with torch.where instead of boolean indexing, so that torch.compile sees static shapes."""

    def __init__(self, feat_dim, num_class, margin_type='mv-am', s=32.0, m=None, t=1.2):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(num_class, feat_dim).uniform_(-1, 1))
        with torch.no_grad():
            self.weight.div_(self.weight.norm(dim=1, keepdim=True))
        self.arc = margin_type == 'mv-arc'
        self.s, self.t = s, t
        self.m = m if m is not None else (0.5 if self.arc else 0.35)
        self.cos_m, self.sin_m = math.cos(self.m), math.sin(self.m)
        self.threshold = math.cos(math.pi - self.m)
        self.mm = math.sin(math.pi - self.m) * self.m

    def forward(self, x, labels):
        cos_theta = torch.mm(F.normalize(x), F.normalize(self.weight).t()).clamp(-1, 1)
        gt = cos_theta.gather(1, labels.view(-1, 1))
        if self.arc:
            sin_theta = torch.sqrt((1.0 - gt * gt).clamp(min=0))
            margined = gt * self.cos_m - sin_theta * self.sin_m
            target = torch.where(gt > self.threshold, margined, gt - self.mm)
        else:
            margined = gt - self.m
            target = margined
        mask = cos_theta > margined
        cos_theta = torch.where(mask, self.t * cos_theta + self.t - 1.0, cos_theta)
        cos_theta = cos_theta.scatter(1, labels.view(-1, 1), target)
        return F.cross_entropy(cos_theta * self.s, labels)


def param_groups(model, head, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() == 1 else decay).append(p)
    return [{'params': decay + [head.weight], 'weight_decay': weight_decay}, {'params': no_decay, 'weight_decay': 0.0}]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--backbone', default='mobilefacenet')
    p.add_argument('--input-size', type=int, default=112)
    p.add_argument('--channels', type=int, default=3)
    p.add_argument('--embedding-size', type=int, default=512)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--classes', type=int, default=100)
    p.add_argument('--head', default='mv-am', choices=['mv-am', 'mv-arc'])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--compile', action='store_true', help='torch.compile of backbone + head (the optimizer stays eager)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    cuda = device.type == 'cuda'
    if cuda:
        torch.backends.cudnn.benchmark = True
    model = backbones.build(a.backbone, a.embedding_size, a.input_size, a.channels).to(device)
    head = MvSoftmax(a.embedding_size, a.classes, a.head).to(device)
    images = torch.randn(a.batch, a.channels, a.input_size, a.input_size, device=device)
    labels = torch.randint(0, a.classes, (a.batch,), device=device)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(param_groups(model, head, 5e-4), lr=0.01, momentum=0.9)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(a.precision)
    if dtype is torch.float16 and not cuda:
        raise SystemExit('--precision fp16 needs --device cuda')
    scaler = torch.cuda.amp.GradScaler() if dtype is torch.float16 else None
    model.train()

    def loss_of(images, labels):
        with torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext():
            embeddings = model(images)
        return head(embeddings.float(), labels)  # the loss in float32, outside autocast

    forward = torch.compile(loss_of) if a.compile else loss_of

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward(images, labels)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(steps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        return time.perf_counter() - t0

    warmup_seconds = timed(a.warmup)  # torch.compile compiles here
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds = timed(a.steps)
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({'samplesPerSecond': a.steps * a.batch / seconds, 'stepMs': 1000 * seconds / a.steps, 'peakBytes': peak,
                      'warmupSeconds': warmup_seconds, 'torch': torch.__version__, 'device': a.device, 'precision': a.precision,
                      'compile': a.compile, 'head': a.head}))


if __name__ == '__main__':
    main()
