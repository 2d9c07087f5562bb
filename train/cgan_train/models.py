"""Generators and discriminators, one pair per network name.

Every generator maps (noise float [N, nz], label int64 [N]) to images in [-1, 1]
of shape [N, C, H, W]; every discriminator maps (image, label) to a logit [N] and,
when it names classes (the conv critic built with `classify`), class logits [N, K]
(else None). Discriminators return logits rather than probabilities so that every
loss (BCE included, through BCE-with-logits) sees the same interface.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from cgan_runtime.contract import ModelSpec


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


# --- mlp: the seed's model (Mirza & Osindero's MLP CGAN as in PyTorch-GAN) ---------


class MlpGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.image_shape = spec.image_shape
        self.label_emb = nn.Embedding(spec.num_classes, spec.num_classes)

        def block(n_in: int, n_out: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(_lrelu())
            return layers

        self.net = nn.Sequential(
            *block(spec.nz + spec.num_classes, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, math.prod(spec.image_shape)),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.label_emb(label), noise], dim=1)
        return self.net(x).view(-1, *self.image_shape)


class MlpDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec, width: int = 512) -> None:
        super().__init__()
        self.label_emb = nn.Embedding(spec.num_classes, spec.num_classes)
        self.net = nn.Sequential(
            nn.Linear(math.prod(spec.image_shape) + spec.num_classes, width),
            _lrelu(),
            nn.Linear(width, width),
            nn.Dropout(0.4),
            _lrelu(),
            nn.Linear(width, width),
            nn.Dropout(0.4),
            _lrelu(),
            nn.Linear(width, 1),
        )

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, None]:
        x = torch.cat([image.flatten(1), self.label_emb(label)], dim=1)
        return self.net(x).squeeze(1), None


# --- conv: a DCGAN-shaped pair for 28 to 64 pixels (SNGAN-style projection critic) ---

CONV_SIZES = range(28, 65)


def conv_layout(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(upsamplings, base size) for a square image of 28..64 pixels: 2 up to 28, 3 above.

    Each upsampling doubles the side; the generator draws base * 2**ups >= H
    pixels and crops the centre, so sizes that are not a multiple of 4 or 8
    (30, 50, ...) work without odd kernel arithmetic. The base map is a linear
    function of the noise, so it can hardly move a shape about: above 28 pixels,
    where a set's things need not be centred as MNIST's digits are, it is at most
    8 pixels and three blocks draw the rest (on 32x32 colour shapes, an 8x8 base
    with two blocks drew colour fields after 2,000 steps, 4x4 with three drew shapes).
    """
    _, h, w = image_shape
    if h != w or h not in CONV_SIZES:
        raise ValueError(f"the conv network needs square images of {CONV_SIZES[0]} to {CONV_SIZES[-1]} pixels, "
                         f"got {h}x{w} (resize them with --image-size, or train the MLP: --recipe edge)")
    ups = 2 if h <= 28 else 3
    return ups, -(-h // 2**ups)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up by label: the label enters every block.

    The scale is stored as an offset from 1, so the seed's N(0, 0.02)
    initialisation of embeddings starts every class at plain BatchNorm.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(num_classes, channels)
        self.shift = nn.Embedding(num_classes, channels)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.training:
            scale, shift = 1.0 + self.scale(label), self.shift(label)
            return self.norm(x) * scale[:, :, None, None] + shift[:, :, None, None]
        # Eval: fold the running statistics into per-label tables (constants the exporter
        # precomputes), so the graph makes one multiply-add pass over the feature map, not three.
        scales = (1.0 + self.scale.weight) * torch.rsqrt(self.norm.running_var + self.norm.eps)
        shifts = self.shift.weight - self.norm.running_mean * scales
        scale, shift = nn.functional.embedding(label, scales), nn.functional.embedding(label, shifts)
        return x * scale[:, :, None, None] + shift[:, :, None, None]


class ConvGenerator(nn.Module):
    """noise -> Linear -> per upsampling: cBN, ReLU, nearest x2, 3x3 conv -> tanh.

    Upsample-then-convolve rather than a strided transposed conv: with this
    few channels, the transposed conv's uneven overlap drew a dot lattice its
    critic never let go of (measured: the critic's loss fell to 0 within 200
    steps and stayed there). The last conv draws the image itself, so no
    hidden layer runs at full resolution. Channels halve at each upsampling
    and end at `width`.
    """

    def __init__(self, spec: ModelSpec, width: int = 32) -> None:
        super().__init__()
        channels, self.size, _ = spec.image_shape
        ups, self.base = conv_layout(spec.image_shape)
        widths = [width * 2 ** (ups - 1 - i) for i in range(ups)]
        # The label enters the first layer (an embedding beside the noise) and every block (cBN).
        self.label_emb = nn.Embedding(spec.num_classes, spec.num_classes)
        self.fc = nn.Linear(spec.nz + spec.num_classes, widths[0] * self.base**2)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(w, spec.num_classes) for w in widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(w_in, w_out, 3, padding=1, bias=w_out == channels)
            for w_in, w_out in zip(widths, [*widths[1:], channels])
        )
        self.act = nn.ReLU()

    def forward(self, noise: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = self.fc(torch.cat([noise, self.label_emb(label)], dim=1)).view(noise.shape[0], -1, self.base, self.base)
        for norm, conv in zip(self.norms, self.convs):
            x = conv(nn.functional.interpolate(self.act(norm(x, label)), scale_factor=2.0, mode="nearest"))
        x = torch.tanh(x)
        if x.shape[-1] != self.size:
            crop = (x.shape[-1] - self.size) // 2
            x = x[:, :, crop : crop + self.size, crop : crop + self.size]
        return x


class ConvDiscriminator(nn.Module):
    """Spectral-normalised strided convs -> summed features h -> linear(h) + <embed(label), h>.

    The projection head (Miyato & Koyama 2018) conditions on the label by an
    inner product with the features rather than by concatenation. With `classify`,
    a linear head also names the image's class from h (the trainer's class loss,
    config.CLASS_LOSS); h must then not see the label, so the image comes alone.
    """

    def __init__(self, spec: ModelSpec, width: int = 32, classify: bool = False) -> None:
        super().__init__()
        channels = spec.image_shape[0]
        downs, _ = conv_layout(spec.image_shape)
        # Without a class head the label also enters as constant one-hot planes beside the image: the
        # projection head alone left the samples unconditioned after two epochs (accuracy 16%).
        self.planes = not classify
        widths = [channels + (spec.num_classes if self.planes else 0)] + [width * 2**i for i in range(downs)]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [spectral_norm(nn.Conv2d(w_in, w_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.1)]
        layers += [spectral_norm(nn.Conv2d(widths[-1], 2 * widths[-1], 3, padding=1)), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(2 * widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(spec.num_classes, 2 * widths[-1]))
        self.classes = nn.Linear(2 * widths[-1], spec.num_classes) if classify else None

    def forward(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.planes:
            planes = nn.functional.one_hot(label, self.embed.num_embeddings).to(image.dtype)
            image = torch.cat([image, planes[:, :, None, None].expand(-1, -1, *image.shape[2:])], dim=1)
        h = self.features(image).sum(dim=(2, 3))
        logit = self.linear(h).squeeze(1) + (self.embed(label) * h).sum(1)
        return logit, self.classes(h) if self.classes is not None else None


def init_seed_weights(module: nn.Module) -> None:
    """The seed's initialisation: weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0.

    Spectral-normalised layers keep PyTorch's default: their weight is
    computed from the stored one, so initialising it in place would change nothing.
    """
    if parametrize.is_parametrized(module):
        return
    if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def widen_label_tables(generator: nn.Module) -> None:
    """Start a conv generator's label tables wide: the embedding beside the noise N(0, 1), the
    conditional BatchNorm scales and shifts N(0, 0.3), so that the classes differ from the first
    step (config.FAST_START_BELOW says when: the seed's N(0, 0.02) takes thousands of steps to grow)."""
    if not isinstance(generator, ConvGenerator):
        raise ValueError(f"wide label tables are for the conv generator, not {type(generator).__name__}")
    nn.init.normal_(generator.label_emb.weight, 0.0, 1.0)
    for norm in generator.norms:
        nn.init.normal_(norm.scale.weight, 0.0, 0.3)
        nn.init.normal_(norm.shift.weight, 0.0, 0.3)


# Network pairs by name (TrainConfig.network); the name travels in the file as ModelSpec.arch. Recipes
# (cgan_train.config.RECIPES) choose a pair and its hyper-parameters.
NETWORKS = {
    "mlp": (MlpGenerator, MlpDiscriminator),
    "conv": (ConvGenerator, ConvDiscriminator),
}


def build_models(spec: ModelSpec, critic_width: int | None = None,
                 classify: bool = False) -> tuple[nn.Module, nn.Module]:
    """A fresh (generator, discriminator) pair for `spec.arch`; the critic `critic_width` wide, or its own
    width, and naming classes when `classify` (the conv critic only)."""
    if spec.arch not in NETWORKS:
        raise ValueError(f"unknown arch '{spec.arch}' (choose from {', '.join(NETWORKS)})")
    g_cls, d_cls = NETWORKS[spec.arch]
    if classify and d_cls is not ConvDiscriminator:
        raise ValueError(f"only the conv critic names classes, not {d_cls.__name__}")
    options = {"classify": True} if classify else {}
    if critic_width is not None:
        options["width"] = critic_width
    g, d = g_cls(spec), d_cls(spec, **options)
    g.apply(init_seed_weights)
    d.apply(init_seed_weights)
    return g, d


def build_generator(spec: ModelSpec) -> nn.Module:
    return build_models(spec)[0]
