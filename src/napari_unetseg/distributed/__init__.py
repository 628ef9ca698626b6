"""Prediction block by block into OME-Zarr, in one process or on a dask.distributed cluster.

:func:`predict_blocks_iter` splits an image (a TIFF or an OME-Zarr, opened lazily) into
blocks of the output, each read with a *halo* of extra pixels on every side so that the
tiles near a block's edge see the same context as in a whole-image run; the halo is
cropped off and the block's labels go straight into a chunk of the output store
(:class:`napari_unetseg._zarr_labels.LabelsStore`): nothing is gathered on the client.

- **Same result as one process.** The percentile normalization is computed once for the
  whole image (as :func:`napari_unetseg.api.predict` does) and applied to every block;
  the object size is measured once; each block is predicted by the same engine. Without
  resampling a block runs the whole image's tiles, so the labels are those of a
  single-process run (tested equal); with an object size that resamples, each block is
  resampled and tiled on its own and 99.6-99.96 % of the labels agree (99.68 % in 4 blocks of
  96 px of an anisotropic stack; docs/distributed.md;
  ``benchmarks/bench_scaleout.py`` measures it).
- **The model goes to each worker once** (``scatter(broadcast=True)``); each worker
  process builds the network once and keeps it for all its blocks.
- **Failures cost only their blocks.** A worker that dies takes its running blocks
  with it; dask runs them again elsewhere. Every worker lost at once takes every copy
  of the model: it is sent again to the restarted workers (twice at most). Each block is marked done in the store only
  after its labels are written, so ``resume=True`` skips exactly the finished blocks
  of an interrupted run.
- **Bounded memory.** A worker holds one block with its halo (input, normalized floats,
  the engine's band buffers); the client holds only the block list. The pyramid is
  built from the written labels, chunk by chunk, also on the workers.

:func:`connect` opens a client on a scheduler address or starts a ``LocalCluster``;
:func:`segment_files_on_cluster` runs one task per file for batches of many images.
This package is the only one that imports dask.distributed.
"""

from .cluster import CONNECT_TIMEOUT, check_visible, close, connect
from .files import segment_files_on_cluster
from .records import BlockProgress, BlocksResult, ClusterError, ClusterGone, Superseded
from .run import DEFAULT_BLOCK, predict_blocks, predict_blocks_iter
from .worker import BUILDS

__all__ = [
    "BUILDS",
    "BlockProgress",
    "BlocksResult",
    "CONNECT_TIMEOUT",
    "ClusterError",
    "ClusterGone",
    "DEFAULT_BLOCK",
    "Superseded",
    "check_visible",
    "close",
    "connect",
    "predict_blocks",
    "predict_blocks_iter",
    "segment_files_on_cluster",
]
