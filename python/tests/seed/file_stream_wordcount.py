# Seed program "Spark Streaming 读取文件流" (the .py part), for dstreams.
# Changes from the seed, each marked "# dstreams:":
#  - the import lines;
#  - `conf = SparkConf() conf.setAppName('TestDStream')` (two statements run together by the
#    Markdown) split;
#  - the watched directory 'file:///root/logfile' taken from $SEED_LOGDIR (a file:// URI).
import os  # dstreams: added, for the directory from the environment

from dstreams import SparkContext, SparkConf  # dstreams: was `from pyspark import ...`
from dstreams.streaming import StreamingContext  # dstreams: was `from pyspark.streaming import ...`
conf = SparkConf()  # dstreams: split from the next statement
conf.setAppName('TestDStream')
conf.setMaster('local[2]')
sc = SparkContext(conf = conf)
# 定义 SparkStreaming 对象
ssc = StreamingContext(sc, 5)
lines = ssc.textFileStream(os.environ["SEED_LOGDIR"])  # dstreams: was 'file:///root/logfile'
words = lines.flatMap(lambda line: line.split(' '))
wordCounts = words.map(lambda x : (x,1)).reduceByKey(lambda a,b:a+b)
wordCounts.pprint()
ssc.start()
ssc.awaitTermination()
