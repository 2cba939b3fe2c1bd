"""KafkaUtils: PySpark 2.4's ``pyspark.streaming.kafka`` on the engine's Kafka source.

``createDirectStream`` is the direct stream (no receiver, exactly the offsets each batch
reports); records are ``(key, value)`` pairs of ``str`` (key ``None`` when absent).
``createStream``, the receiver stream through ZooKeeper, is not provided.
"""

from dstreams import DStreamsError  # noqa: F401  (errors of the stream are DStreamsError)
from dstreams.streaming.dstream import DStream

__all__ = ["KafkaUtils"]

_BROKERS = ("metadata.broker.list", "bootstrap.servers")
# Settings of PySpark's that are not librdkafka's.
_NOT_CLIENT = set(_BROKERS) | {"auto.offset.reset", "group.id"}


class KafkaUtils:
    @staticmethod
    def createStream(ssc, zkQuorum, groupId, topics, kafkaParams=None, storageLevel=None,
                     keyDecoder=None, valueDecoder=None):
        raise NotImplementedError(
            "KafkaUtils.createStream (the ZooKeeper receiver stream) is not supported: use "
            "KafkaUtils.createDirectStream(ssc, [topic], {'metadata.broker.list': brokers}), "
            "which reads the brokers directly")

    @staticmethod
    def createDirectStream(ssc, topics, kafkaParams, fromOffsets=None, keyDecoder=None,
                           valueDecoder=None, messageHandler=None):
        """The records of ``topics`` as ``(key, value)`` pairs. ``kafkaParams`` needs
        ``metadata.broker.list`` (or ``bootstrap.servers``); ``auto.offset.reset``
        ``smallest``/``earliest`` starts at the oldest records, else (PySpark's default) at
        the newest when the stream starts. Other entries are passed to librdkafka."""
        brokers = next((kafkaParams[k] for k in _BROKERS if k in kafkaParams), None)
        if brokers is None:
            raise ValueError("kafkaParams needs 'metadata.broker.list' or 'bootstrap.servers'")
        if fromOffsets or keyDecoder or valueDecoder or messageHandler:
            raise NotImplementedError("createDirectStream's fromOffsets, decoders and "
                                      "messageHandler are not supported: keys and values are "
                                      "decoded as UTF-8")
        reset = kafkaParams.get("auto.offset.reset", "largest")
        if reset not in ("smallest", "earliest", "largest", "latest"):
            raise ValueError("auto.offset.reset must be smallest or largest, not %r" % reset)
        params = [(k, str(v)) for k, v in kafkaParams.items() if k not in _NOT_CLIENT]
        values, pairs = ssc._ctx.kafka_direct_stream(
            brokers, list(topics), params, reset in ("smallest", "earliest"))
        stream = DStream(ssc, pairs, ("createDirectStream native",))
        stream._values = values
        return stream
