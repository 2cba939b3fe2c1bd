"""StreamingListener: ``pyspark.streaming.listener.StreamingListener``'s batch events."""

__all__ = ["StreamingListener"]


class StreamingListener:
    """Subclass and override the events wanted. dstreams reports ``onBatchCompleted``; the
    other events of PySpark's listener are accepted and never called."""

    def onStreamingStarted(self, streamingStarted):
        pass

    def onReceiverStarted(self, receiverStarted):
        pass

    def onReceiverError(self, receiverError):
        pass

    def onReceiverStopped(self, receiverStopped):
        pass

    def onBatchSubmitted(self, batchSubmitted):
        pass

    def onBatchStarted(self, batchStarted):
        pass

    def onBatchCompleted(self, batchCompleted):
        pass

    def onOutputOperationStarted(self, outputOperationStarted):
        pass

    def onOutputOperationCompleted(self, outputOperationCompleted):
        pass


class _Time:
    def __init__(self, ms):
        self._ms = ms

    def milliseconds(self):
        return self._ms


class BatchInfo:
    """One batch's metrics, with the accessors of PySpark's (Java) ``BatchInfo``: times are
    epoch milliseconds, delays milliseconds, -1 where not known."""

    def __init__(self, info):
        self._info = info

    def _get(self, key):
        value = self._info[key]
        return -1 if value is None else value

    def batchTime(self):
        return _Time(self._info["batch_time"])

    def submissionTime(self):
        return self._get("submission_time")

    def processingStartTime(self):
        return self._get("processing_start_time")

    def processingEndTime(self):
        return self._get("processing_end_time")

    def schedulingDelay(self):
        return self._get("scheduling_delay")

    def processingDelay(self):
        return self._get("processing_delay")

    def totalDelay(self):
        return self._get("total_delay")

    def numRecords(self):
        return self._get("num_records")


class _BatchCompleted:
    def __init__(self, info):
        self._info = BatchInfo(info)

    def batchInfo(self):
        return self._info


class _ListenerBridge:
    """What the engine calls: hands its events to a ``StreamingListener``."""

    def __init__(self, listener):
        self._listener = listener

    def on_batch_completed(self, info):
        self._listener.onBatchCompleted(_BatchCompleted(info))
