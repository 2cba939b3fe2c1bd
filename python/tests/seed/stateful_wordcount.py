# Seed program "updateStateByKey 操作", for dstreams.
# The seed shows only the program's body: it uses sys, SparkContext, StreamingContext and `sc`
# without defining them. Changes, each marked "# dstreams:":
#  - the missing import lines and `sc` added (as PySpark's stateful_network_wordcount.py,
#    which this snippet is taken from, has them);
#  - the checkpoint directory 'file:///root/stateful/' taken from $SEED_CHECKPOINT and the
#    output prefix 'file:///root/outp' from $SEED_OUTPREFIX (both file:// URIs).
# argv: <hostname> <port> of the line server, as in the seed (sys.argv[1], sys.argv[2]).
import os  # dstreams: added, for the directories from the environment
import sys  # dstreams: added (the snippet uses sys.argv)
from dstreams import SparkContext  # dstreams: added (PySpark: from pyspark import SparkContext)
from dstreams.streaming import StreamingContext  # dstreams: added (PySpark: from pyspark.streaming import ...)

sc = SparkContext(appName="PythonStreamingStatefulNetworkWordCount")  # dstreams: added (the snippet's `sc`)


def updateFunc(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)

ssc = StreamingContext(sc, 1)
ssc.checkpoint(os.environ["SEED_CHECKPOINT"])  # dstreams: was "file:///root/stateful/"
initialStateRDD = sc.parallelize([(u'hello', 1), (u'world', 1)])
lines = ssc.socketTextStream(sys.argv[1], int(sys.argv[2]))
running_counts = lines.flatMap(lambda line: line.split(" "))\
                .map(lambda word: (word, 1))\
                .updateStateByKey(updateFunc, initialRDD=initialStateRDD)
running_counts.saveAsTextFiles(os.environ["SEED_OUTPREFIX"])  # dstreams: was "file:///root/outp"
running_counts.pprint()
ssc.start()
ssc.awaitTermination()
