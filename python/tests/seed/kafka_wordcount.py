# Seed program "Spark Streaming 读取 kafka Topic", for dstreams.
# Changes from the seed, each marked "# dstreams:":
#  - the import lines;
#  - `print(...) exit(-1)` (two statements run together by the Markdown) split;
#  - the ZooKeeper receiver `KafkaUtils.createStream(ssc, zkQuorum, "spark-streaming-consumer",
#    {topic: 1})` replaced by the direct stream, as PySpark 2.4's direct_kafka_wordcount.py
#    writes it: `KafkaUtils.createDirectStream(ssc, [topic], {"metadata.broker.list": brokers})`;
#    argv is then <brokers> <topic> instead of <zk> <topic>.
from __future__ import print_function
import sys
from dstreams import SparkContext  # dstreams: was `from pyspark import SparkContext`
from dstreams.streaming import StreamingContext  # dstreams: was `from pyspark.streaming import ...`
from dstreams.streaming.kafka import KafkaUtils  # dstreams: was `from pyspark.streaming.kafka import ...`

if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("Usage: KafkaWordCount.py <brokers> <topic>", file=sys.stderr)  # dstreams: split; was <zk> <topic>
        exit(-1)
    sc = SparkContext(appName="PythonStreamingKafkaWordCount")
    ssc = StreamingContext(sc, 1)
    brokers, topic = sys.argv[1:]  # dstreams: was `zkQuorum, topic = sys.argv[1:]`
    kvs = KafkaUtils.createDirectStream(ssc, [topic], {"metadata.broker.list": brokers})  # dstreams: was createStream(ssc, zkQuorum, "spark-streaming-consumer", {topic: 1})
    lines = kvs.map(lambda x: x[1])
    counts = lines.flatMap(lambda line: line.split(" ")).map(lambda word: (word, 1)).reduceByKey(lambda a, b: a+b)
    counts.pprint()
    ssc.start()
    ssc.awaitTermination()
