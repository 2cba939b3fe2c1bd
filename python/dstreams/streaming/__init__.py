"""``pyspark.streaming`` on the dstreams engine: ``StreamingContext`` and ``DStream``."""

from dstreams.streaming.context import StreamingContext
from dstreams.streaming.dstream import DStream
from dstreams.streaming.listener import StreamingListener

__all__ = ["StreamingContext", "DStream", "StreamingListener"]
