# The seed's section "Spark Streaming 读取套接字" (socket source) has a heading and no code; this
# is the program it names, PySpark 2.4's examples/src/main/python/streaming/network_wordcount.py,
# with only the import lines changed (marked "# dstreams:").
# argv: <hostname> <port>.
from __future__ import print_function

import sys

from dstreams import SparkContext  # dstreams: was `from pyspark import SparkContext`
from dstreams.streaming import StreamingContext  # dstreams: was `from pyspark.streaming import ...`

if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("Usage: network_wordcount.py <hostname> <port>", file=sys.stderr)
        sys.exit(-1)
    sc = SparkContext(appName="PythonStreamingNetworkWordCount")
    ssc = StreamingContext(sc, 1)

    lines = ssc.socketTextStream(sys.argv[1], int(sys.argv[2]))
    counts = lines.flatMap(lambda line: line.split(" "))\
                  .map(lambda word: (word, 1))\
                  .reduceByKey(lambda a, b: a+b)
    counts.pprint()

    ssc.start()
    ssc.awaitTermination()
