#!/usr/bin/env python3
"""The PyTorch twins of mvface's C++ backbones (native/core/backbones).

Module and parameter names equal the C++ ones, so a state dict exchanges by key. Designs:
- mobilefacenet: FaceX-Zoo's MobileFaceNet (after the MobileFaceNet paper).
- iresnet18/34/50/100: insightface arcface_torch's iresnet.py; block 'ir_se' adds FaceX-Zoo's SEModule
  (reduction 16) after each block's last BN.
- attention56: FaceX-Zoo's ResidualAttentionNet with stage counts 1, 1, 1, its residual units made
  IR-SE bottlenecks (BN-conv1x1-BN-PReLU-conv3x3-BN-PReLU-conv1x1-BN-SE, shortcut conv1x1-BN), and a
  BN-Dropout-FC-BN output layer.
- small: three conv-BN-PReLU-maxpool stages (32, 64, 128) for 28x28 / 32x32 inputs.

Load a model that mvface trained (its run folder's model.pt and model.json):

    import json, torch, mvface_backbones
    config = json.load(open('model.json'))
    model = mvface_backbones.build_config(config['backbone'])
    model.load_state_dict(torch.load('model.pt'))  # weights_only, PyTorch's default from 2.6, works
    model.eval()

This file is the python/ folder of the mvface package (node_modules/mvface/python): put that folder on
sys.path or copy the file. `python3 mvface_backbones.py --count` prints the parameter count of each
standard config as JSON; `--shapes` prints every state dict entry's shape.
"""
import argparse
import json

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    raise SystemExit('mvface_backbones.py needs PyTorch: on Debian, apt-get install python3-torch and run it with /usr/bin/python3')


def conv(c_in, c_out, kernel, stride=1, padding=0, groups=1):
    return nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)


class SEModule(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = conv(channels, channels // reduction, 1)
        self.fc2 = conv(channels // reduction, channels, 1)

    def forward(self, x):
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(w))))


def output_layer(channels, spatial, embedding_size, dropout, norm='batch'):
    if norm == 'none':
        return nn.Sequential(nn.Identity(), nn.Dropout(dropout), nn.Flatten(),
                             nn.Linear(channels * spatial * spatial, embedding_size), nn.Identity())
    return nn.Sequential(nn.BatchNorm2d(channels), nn.Dropout(dropout), nn.Flatten(),
                         nn.Linear(channels * spatial * spatial, embedding_size),
                         nn.BatchNorm1d(embedding_size))


# ---- MobileFaceNet ----

class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, kernel=1, stride=1, padding=0, groups=1, linear=False):
        super().__init__()
        self.conv = conv(c_in, c_out, kernel, stride, padding, groups)
        self.bn = nn.BatchNorm2d(c_out)
        self.prelu = None if linear else nn.PReLU(c_out)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class DepthWise(nn.Module):
    def __init__(self, c_in, c_out, groups, stride, residual):
        super().__init__()
        self.conv = ConvBlock(c_in, groups)
        self.conv_dw = ConvBlock(groups, groups, 3, stride, 1, groups)
        self.project = ConvBlock(groups, c_out, linear=True)
        self.residual = residual

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, channels, blocks, groups):
        super().__init__()
        self.model = nn.Sequential(*[DepthWise(channels, channels, groups, 1, True) for _ in range(blocks)])

    def forward(self, x):
        return self.model(x)


class MobileFaceNet(nn.Module):
    def __init__(self, embedding_size, input_size, in_channels):
        super().__init__()
        out = input_size // 16
        self.conv1 = ConvBlock(in_channels, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = DepthWise(64, 64, 128, 2, False)
        self.conv_3 = Residual(64, 4, 128)
        self.conv_34 = DepthWise(64, 128, 256, 2, False)
        self.conv_4 = Residual(128, 6, 256)
        self.conv_45 = DepthWise(128, 128, 512, 2, False)
        self.conv_5 = Residual(128, 2, 256)
        self.conv_6_sep = ConvBlock(128, 512)
        self.conv_6_dw = ConvBlock(512, 512, out, 1, 0, groups=512, linear=True)
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def forward(self, x):
        for name in ['conv1', 'conv2_dw', 'conv_23', 'conv_3', 'conv_34', 'conv_4', 'conv_45', 'conv_5',
                     'conv_6_sep', 'conv_6_dw']:
            x = getattr(self, name)(x)
        return self.bn(self.linear(torch.flatten(x, 1)))


# ---- IResNet (arcface_torch) ----

class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, se):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv(inplanes, planes, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv(planes, planes, 3, stride, 1)
        self.bn3 = nn.BatchNorm2d(planes)
        self.se = SEModule(planes) if se else None
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(conv(inplanes, planes, 1, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        if self.se is not None:
            out = self.se(out)
        return out + (x if self.downsample is None else self.downsample(x))


IRESNET_LAYERS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 14, 3], 100: [3, 13, 30, 3]}


class IResNet(nn.Module):
    def __init__(self, depth, embedding_size, input_size, in_channels, se, dropout):
        super().__init__()
        self.conv1 = conv(in_channels, 64, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU(64)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip([64, 128, 256, 512], IRESNET_LAYERS[depth])):
            layer = [IBasicBlock(inplanes if b == 0 else planes, planes, 2 if b == 0 else 1, se) for b in range(blocks)]
            setattr(self, f'layer{i + 1}', nn.Sequential(*layer))
            inplanes = planes
        out = input_size // 16
        self.bn2 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512 * out * out, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


# ---- Attention-56 ----

class ResidualUnit(nn.Module):
    """IR-SE bottleneck: BN-conv1x1-BN-PReLU-conv3x3-BN-PReLU-conv1x1-BN-SE plus the shortcut."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        mid = c_out // 4
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = conv(c_in, mid, 1)
        self.bn2 = nn.BatchNorm2d(mid)
        self.prelu1 = nn.PReLU(mid)
        self.conv2 = conv(mid, mid, 3, stride, 1)
        self.bn3 = nn.BatchNorm2d(mid)
        self.prelu2 = nn.PReLU(mid)
        self.conv3 = conv(mid, c_out, 1)
        self.bn4 = nn.BatchNorm2d(c_out)
        self.se = SEModule(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(conv(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.prelu1(self.bn2(self.conv1(self.bn1(x))))
        out = self.prelu2(self.bn3(self.conv2(out)))
        out = self.se(self.bn4(self.conv3(out)))
        return out + (x if self.shortcut is None else self.shortcut(x))


def upsample_to(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode='bilinear', align_corners=True)


class AttentionModule(nn.Module):
    """FaceX-Zoo's AttentionModule_stage1/2/3 for levels = 3/2/1: the soft-mask branch pools `levels`
    times; the trunk is two units. Sub-module names are those of the stage classes."""

    def __init__(self, channels, levels):
        super().__init__()
        unit = lambda: ResidualUnit(channels, channels)
        self.levels = levels
        self.first_residual_blocks = unit()
        self.trunk_branches = nn.Sequential(unit(), unit())
        for i in range(1, levels + 1):
            down = nn.Sequential(unit(), unit()) if i == levels else unit()
            setattr(self, f'softmax{i}_blocks', down)
            if i < levels:
                setattr(self, f'skip{i}_connection_residual_block', unit())
        for i in range(levels, 1, -1):
            setattr(self, f'softmax{2 * levels + 1 - i}_blocks', unit())
        setattr(self, f'softmax{2 * levels}_blocks', nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), conv(channels, channels, 1),
            nn.BatchNorm2d(channels), nn.ReLU(), conv(channels, channels, 1), nn.Sigmoid()))
        self.last_blocks = unit()

    def forward(self, x):
        block = lambda name: getattr(self, name)
        x = self.first_residual_blocks(x)
        trunk = self.trunk_branches(x)
        down, skips, cur = [], [], x
        for i in range(1, self.levels + 1):
            cur = block(f'softmax{i}_blocks')(F.max_pool2d(cur, 3, 2, 1))
            down.append(cur)
            if i < self.levels:
                skips.append(block(f'skip{i}_connection_residual_block')(cur))
        out = down[-1]
        for i in range(self.levels, 1, -1):
            out = upsample_to(out, down[i - 2]) + down[i - 2] + skips[i - 2]
            out = block(f'softmax{2 * self.levels + 1 - i}_blocks')(out)
        mask = block(f'softmax{2 * self.levels}_blocks')(upsample_to(out, trunk) + trunk)
        return self.last_blocks((1 + mask) * trunk)


class Attention56(nn.Module):
    def __init__(self, embedding_size, input_size, in_channels, dropout):
        super().__init__()
        self.conv1 = nn.Sequential(conv(in_channels, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.PReLU(64))
        self.attention_body = nn.Sequential(
            ResidualUnit(64, 256), AttentionModule(256, 3),
            ResidualUnit(256, 512, 2), AttentionModule(512, 2),
            ResidualUnit(512, 1024, 2), AttentionModule(1024, 1),
            ResidualUnit(1024, 2048, 2), ResidualUnit(2048, 2048), ResidualUnit(2048, 2048))
        self.output_layer = output_layer(2048, input_size // 16, embedding_size, dropout)

    def forward(self, x):
        return self.output_layer(self.attention_body(self.conv1(x)))


# ---- small ----

class SmallNet(nn.Module):
    def __init__(self, embedding_size, input_size, in_channels, dropout, norm='batch'):
        super().__init__()
        widths = [in_channels, 32, 64, 128]
        for i in range(3):
            setattr(self, f'stage{i + 1}', nn.Sequential(
                conv(widths[i], widths[i + 1], 3, 1, 1),
                nn.Identity() if norm == 'none' else nn.BatchNorm2d(widths[i + 1]),
                nn.PReLU(widths[i + 1]), nn.MaxPool2d(2)))
        self.output_layer = output_layer(128, input_size // 8, embedding_size, dropout, norm)

    def forward(self, x):
        return self.output_layer(self.stage3(self.stage2(self.stage1(x))))


def init_parameters(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return model


def build(name, embedding_size=512, input_size=112, in_channels=3, block='ir', dropout=0.0, norm='batch'):
    if name == 'mobilefacenet':
        model = MobileFaceNet(embedding_size, input_size, in_channels)
    elif name.startswith('iresnet') and name[7:].isdigit() and int(name[7:]) in IRESNET_LAYERS:
        model = IResNet(int(name[7:]), embedding_size, input_size, in_channels, block == 'ir_se', dropout)
    elif name == 'attention56':
        model = Attention56(embedding_size, input_size, in_channels, dropout)
    elif name == 'small':
        model = SmallNet(embedding_size, input_size, in_channels, dropout, norm)
    else:
        raise ValueError(f'unknown backbone {name}')
    return init_parameters(model)


# The configs that --count and --shapes report; test/backbones.test.ts builds each natively too.
STANDARD_CONFIGS = {
    'mobilefacenet': {'name': 'mobilefacenet'},
    'iresnet18': {'name': 'iresnet18'},
    'iresnet34': {'name': 'iresnet34'},
    'iresnet50': {'name': 'iresnet50'},
    'iresnet100': {'name': 'iresnet100'},
    'iresnet50-ir_se': {'name': 'iresnet50', 'block': 'ir_se'},
    'attention56': {'name': 'attention56'},
    'small': {'name': 'small', 'embeddingSize': 128, 'inputSize': 28, 'inChannels': 1},
    'small-32': {'name': 'small', 'embeddingSize': 128, 'inputSize': 32, 'inChannels': 3},
    'small-no-norm': {'name': 'small', 'embeddingSize': 128, 'inputSize': 28, 'inChannels': 1, 'norm': 'none'},
}


def build_config(config):
    return build(config['name'], config.get('embeddingSize', 512), config.get('inputSize', 112),
                 config.get('inChannels', 3), config.get('block', 'ir'), config.get('dropout', 0.0),
                 config.get('norm', 'batch'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', action='store_true', help='parameter count of each standard config')
    parser.add_argument('--shapes', action='store_true', help='state dict entry shapes of each standard config')
    args = parser.parse_args()
    report = {}
    for label, config in STANDARD_CONFIGS.items():
        model = build_config(config)
        entry = {'config': config}
        if args.count or not args.shapes:
            entry['parameters'] = sum(p.numel() for p in model.parameters())
        if args.shapes:
            entry['shapes'] = {k: list(v.shape) for k, v in model.state_dict().items()}
        report[label] = entry
    print(json.dumps(report))


if __name__ == '__main__':
    main()
