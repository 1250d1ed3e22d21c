"""Operations a sequence records, one concept per module over ``OpBase``."""

from .barrier import AccessFlags, OpMemoryBarrier, PipelineStages
from .base import Access, Barrier, OpBase
from .copy import OpCopy, OpTensorCopy
from .dispatch import OpAlgoDispatch
from .matmul import OpMatMul
from .mult import OpMult
from .sync import OpSyncDevice, OpSyncLocal, OpTensorSyncDevice, OpTensorSyncLocal

__all__ = [
    "Access", "AccessFlags", "Barrier", "OpAlgoDispatch", "OpBase", "OpCopy", "OpMatMul", "OpMemoryBarrier", "OpMult",
    "OpSyncDevice", "OpSyncLocal", "OpTensorCopy", "OpTensorSyncDevice", "OpTensorSyncLocal", "PipelineStages",
]
