"""An episode's GIF in tensorboard's Images tab, where it plays.

This is what `SummaryWriter.add_video` writes: an image summary whose encoded bytes are a GIF. add_video
encodes its frames with moviepy, which pins pillow below the version the rest of the toolkit uses; the
GIF the run has just written is those very bytes, so they go in as they are.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary


def add_gif(writer: SummaryWriter, tag: str, path: Path, step: int) -> None:
    height, width, channels = imageio.imread(path).shape  # the first frame's
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=Path(path).read_bytes())
    # tensorboardX 2.6 exposes its event file writer only so (requirements.txt pins it)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
