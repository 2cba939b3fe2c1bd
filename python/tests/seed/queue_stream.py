# Seed program "Spark Streaming 读取 RDD 数据源", for dstreams.
# Changes from the seed, each marked "# dstreams:":
#  - the import lines (and the seed's typo `pyspark.streaning` fixed);
#  - the Markdown joined the comments "#创建一个队列..." / "#创建一个RDD队列流" to the end of the
#    preceding statements; they stay there (comments: no change in meaning).
# The time.sleep(1) per RDD stays as in the seed: the program spends 5 s building its queue
# before ssc.start().
from dstreams import SparkContext  # dstreams: was `from pyspark import SparkContext`
from dstreams.streaming import StreamingContext  # dstreams: was `from pyspark.streaning import ...`
import time
sc = SparkContext(appName="PythonStreamingQueueStream")
ssc = StreamingContext(sc, 2) #创建一个队列，通过该队列可以把RDD推给一个RDD队列流
rddQueue = []
for i in range(5):
    rddQueue += [ssc.sparkContext.parallelize([j for j in range(1, 1001)], 10)]
    time.sleep(1) #创建一个RDD队列流
inputStream = ssc.queueStream(rddQueue)
mappedStream = inputStream.map(lambda x: (x % 10, 1))
reducedStream = mappedStream.reduceByKey(lambda a, b: a + b)
reducedStream.pprint()
ssc.start()
ssc.stop(stopSparkContext=True, stopGraceFully=True)
