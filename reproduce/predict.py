"""Segment a picture from disk with a reference net: ``predict(net, image) -> label map``.

>>> import nets, weights
>>> from reproduce.predict import predict
>>> net = weights.load(nets.build("voc-fcn8s"), "voc-fcn8s.h5")
>>> label = predict(net, "cat.jpg")            # H x W uint8, VOC class indices

The image is preprocessed exactly as the net's training data was (the net record's inputs: which reader top
feeds each input and its mean; data.preprocess: RGB -> BGR, minus the mean, no resizing), so a JPEG from disk
reaches the net as the reference's data layer fed it.

A picture whose forward would not fit ``max_memory`` bytes (default: 4 GiB on a CPU, the free memory on a GPU)
is segmented in tiles with a progress bar, exactly (nets.tiling); one that fits runs as one forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ImageLike = Image.Image | np.ndarray | str | Path


def predict(net: nn.Module, image: ImageLike | Mapping[str, ImageLike],
            device: torch.device | str | None = None, max_memory: int | None = None,
            progress: bool = True) -> np.ndarray | dict[str, np.ndarray]:
    """The net's label map for one picture: H x W uint8 (argmax over classes), at the picture's own size.

    ``image``: a path, PIL image or H x W x 3 uint8 RGB array. Nets with two inputs take a mapping from reader
    top to picture: {"color": ..., "hha": ...} (nyud-fcn32s-color-hha) or {"color": ..., "depth": ...}
    (nyud-fcn32s-color-d); nyud-fcn32s-hha takes the HHA picture itself. Two-headed nets (SIFT Flow) return
    {score blob: label map}.

    ``max_memory``: the bytes the weights, the picture and the forward may take (nets.tiling.forward); above it
    the picture is segmented in tiles, with a progress bar on stderr when ``progress``.
    """
    import nets
    from data.preprocess import preprocess_top
    from nets import tiling

    record = nets.record(net.name)
    tops = record.input_tops  # net input -> reader top
    if isinstance(image, Mapping):
        missing = [t for t in tops.values() if t not in image]
        if missing:
            raise KeyError(f"{net.name} needs pictures for {sorted(tops.values())}; missing {missing}")
        pictures = dict(image)
    else:
        if len(tops) != 1:
            raise TypeError(f"{net.name} takes {len(tops)} inputs; pass a mapping {{top: picture}} for "
                            f"tops {sorted(tops.values())}")
        pictures = {next(iter(tops.values())): image}
    # Default: wherever the net's weights are (move the net with net.to(pick_device()) for a GPU).
    device = torch.device(device) if device is not None else next(net.parameters()).device
    means = {i.blob: i.mean for i in record.inputs}
    arrays = [preprocess_top(tops[name], pictures[tops[name]], means[name]) for name in net.inputs]
    sizes = {a.shape[1:] for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"the pictures for {net.name} differ in size (H x W): {sorted(sizes)}")
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            # argmax tile by tile: the result holds a byte per pixel, not a float per class
            outs = tiling.forward(net, *(torch.from_numpy(a)[None] for a in arrays), max_memory=max_memory,
                                  device=device, labels=True, progress=progress)
    finally:
        net.train(was_training)
    labels = {o: x[0, 0].numpy() for o, x in zip(net.outputs, outs, strict=True)}
    return labels[net.outputs[0]] if len(labels) == 1 else labels
