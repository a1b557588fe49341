#!/usr/bin/env python3
"""The training step as peers write it in PyTorch: a backbone (the twin of mvface's, from
backbones.py), FaceX-Zoo's MV-Softmax head (am margin, adaptive re-weighting) in eager ops, SGD with
momentum and weight decay (none on BN weights and biases). Feeds one fixed random batch, so data
loading costs it nothing. Prints {"samplesPerSecond", "stepMs"}.

Usage: train_eager.py --backbone mobilefacenet --batch 32 --classes 100 --threads 2 --steps 8
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backbones  # noqa: E402


class MvSoftmaxAm(torch.nn.Module):
    """FaceX-Zoo's MV_Softmax with is_am=1: cos - m for the target, t cos + t - 1 for hard negatives."""

    def __init__(self, feat_dim, num_class, s=32.0, m=0.35, t=1.2):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(num_class, feat_dim).uniform_(-1, 1))
        with torch.no_grad():
            self.weight.div_(self.weight.norm(dim=1, keepdim=True))
        self.s, self.m, self.t = s, m, t

    def forward(self, x, labels):
        cos_theta = torch.mm(F.normalize(x), F.normalize(self.weight).t()).clamp(-1, 1)
        gt = cos_theta[torch.arange(x.size(0)), labels].view(-1, 1)
        mask = cos_theta > gt - self.m
        hard_vector = cos_theta[mask]
        cos_theta[mask] = self.t * hard_vector + self.t - 1.0
        cos_theta.scatter_(1, labels.view(-1, 1), gt - self.m)
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
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--steps', type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = backbones.build(a.backbone, a.embedding_size, a.input_size, a.channels)
    head = MvSoftmaxAm(a.embedding_size, a.classes)
    opt = torch.optim.SGD(param_groups(model, head, 5e-4), lr=0.01, momentum=0.9)
    images = torch.randn(a.batch, a.channels, a.input_size, a.input_size)
    labels = torch.randint(0, a.classes, (a.batch,))
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        head(model(images), labels).backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - t0
    print(json.dumps({'samplesPerSecond': a.steps * a.batch / seconds, 'stepMs': 1000 * seconds / a.steps, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
