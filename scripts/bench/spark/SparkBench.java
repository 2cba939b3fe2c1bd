// The JVM baseline of scripts/bench-vs-spark: W1, W2 and W3 (defined in scripts/bench/README.md)
// written with Spark Streaming's Java DStream API, one input file per batch through a queueStream.
//
// Usage (through spark-submit, see scripts/bench/harness.py):
//   SparkBench WORKLOAD CORES INTERVAL_MS WINDOW SLIDE CHECKPOINT_DIR OUT_JSON FILE...
// WORKLOAD is w1, w2 or w3. The environment variable BENCH_LAUNCH_MS (wall-clock milliseconds at
// which the harness launched spark-submit) is copied into the JSON so that launch-to-first-batch
// can be computed on one clock.
//
// Per batch the StreamingListener records submission, processing start and end (BatchInfo) and the
// job's result (count() of the batch's result RDD); the JSON is written after the last file's batch
// completed and the context stopped.

import java.io.FileWriter;
import java.io.IOException;
import java.io.Writer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.Optional;
import org.apache.spark.streaming.Durations;
import org.apache.spark.streaming.api.java.JavaDStream;
import org.apache.spark.streaming.api.java.JavaPairDStream;
import org.apache.spark.streaming.api.java.JavaStreamingContext;
import org.apache.spark.streaming.scheduler.BatchInfo;
import org.apache.spark.streaming.scheduler.StreamingListener;
import org.apache.spark.streaming.scheduler.StreamingListenerBatchCompleted;
import scala.Tuple2;

public final class SparkBench {

    /** One completed batch, as BatchInfo reports it. */
    static final class Batch {
        long batchTime, submission, start, end, processingMs, schedulingMs;
    }

    /** Collects BatchInfo of every completed batch and counts them down. */
    static final class Listener implements StreamingListener {
        final List<Batch> batches = new ArrayList<>();
        final CountDownLatch remaining;

        Listener(int n) {
            remaining = new CountDownLatch(n);
        }

        @Override
        public void onBatchCompleted(StreamingListenerBatchCompleted event) {
            BatchInfo info = event.batchInfo();
            Batch b = new Batch();
            b.batchTime = info.batchTime().milliseconds();
            b.submission = info.submissionTime();
            b.start = (Long) info.processingStartTime().get();
            b.end = (Long) info.processingEndTime().get();
            b.processingMs = (Long) info.processingDelay().get();
            b.schedulingMs = (Long) info.schedulingDelay().get();
            synchronized (batches) {
                batches.add(b);
            }
            remaining.countDown();
        }
    }

    public static void main(String[] args) throws Exception {
        long mainMs = System.currentTimeMillis();
        if (args.length < 8) {
            System.err.println("usage: SparkBench w1|w2|w3 CORES INTERVAL_MS WINDOW SLIDE CHECKPOINT_DIR OUT_JSON FILE...");
            System.exit(2);
        }
        String workload = args[0];
        int cores = Integer.parseInt(args[1]);
        long intervalMs = Long.parseLong(args[2]);
        long window = Long.parseLong(args[3]);
        long slide = Long.parseLong(args[4]);
        String checkpointDir = args[5];
        String outJson = args[6];
        String[] files = Arrays.copyOfRange(args, 7, args.length);
        String launch = System.getenv().getOrDefault("BENCH_LAUNCH_MS", "0");

        // Master and settings come from spark-submit (--master local[N], --conf ...).
        SparkConf conf = new SparkConf().setAppName("bench-spark-jvm-" + workload);
        JavaStreamingContext ssc = new JavaStreamingContext(conf, Durations.milliseconds(intervalMs));
        JavaSparkContext sc = ssc.sparkContext();
        sc.setLogLevel("WARN");

        Queue<JavaRDD<String>> queue = new LinkedList<>();
        for (String f : files) {
            queue.add(sc.textFile(f));
        }
        JavaDStream<String> lines = ssc.queueStream(queue, true);
        JavaPairDStream<String, Long> pairs = lines
                .flatMap(line -> Arrays.asList(line.split(" ")).iterator())
                .mapToPair(w -> new Tuple2<>(w, 1L));

        JavaPairDStream<String, Long> result;
        switch (workload) {
            case "w1":
                result = pairs.reduceByKey((a, b) -> a + b);
                break;
            case "w2":
                ssc.checkpoint(checkpointDir);
                result = pairs.reduceByKeyAndWindow(
                        (a, b) -> a + b,
                        (a, b) -> a - b,
                        Durations.milliseconds(window * intervalMs),
                        Durations.milliseconds(slide * intervalMs),
                        cores,
                        kv -> kv._2() != 0L);
                break;
            case "w3":
                ssc.checkpoint(checkpointDir);
                result = pairs.updateStateByKey((List<Long> values, Optional<Long> state) -> {
                    long sum = state.orElse(0L);
                    for (Long v : values) {
                        sum += v;
                    }
                    return Optional.of(sum);
                });
                break;
            default:
                throw new IllegalArgumentException("unknown workload " + workload);
        }

        Map<Long, Long> counts = new ConcurrentHashMap<>();
        result.foreachRDD((rdd, time) -> {
            counts.put(time.milliseconds(), rdd.count());
        });

        Listener listener = new Listener(files.length);
        ssc.addStreamingListener(listener);
        ssc.start();
        long readyMs = System.currentTimeMillis();
        boolean done = listener.remaining.await(7, TimeUnit.DAYS);
        long doneMs = System.currentTimeMillis();
        ssc.stop(true, false);

        StringBuilder json = new StringBuilder();
        json.append("{\"engine\":\"spark-jvm\",\"workload\":\"").append(workload)
                .append("\",\"spark_version\":\"").append(sc.version())
                .append("\",\"cores\":").append(cores)
                .append(",\"interval_ms\":").append(intervalMs)
                .append(",\"complete\":").append(done)
                .append(",\"launch_ms\":").append(launch)
                .append(",\"main_ms\":").append(mainMs)
                .append(",\"ready_ms\":").append(readyMs)
                .append(",\"done_ms\":").append(doneMs)
                .append(",\"batches\":[");
        List<Batch> batches;
        synchronized (listener.batches) {
            batches = new ArrayList<>(listener.batches);
        }
        batches.sort((x, y) -> Long.compare(x.batchTime, y.batchTime));
        for (int i = 0; i < batches.size(); i++) {
            Batch b = batches.get(i);
            if (i > 0) {
                json.append(',');
            }
            json.append("{\"batch_time\":").append(b.batchTime)
                    .append(",\"submission_ms\":").append(b.submission)
                    .append(",\"start_ms\":").append(b.start)
                    .append(",\"end_ms\":").append(b.end)
                    .append(",\"processing_ms\":").append(b.processingMs)
                    .append(",\"scheduling_ms\":").append(b.schedulingMs)
                    .append(",\"result_count\":").append(counts.getOrDefault(b.batchTime, -1L))
                    .append('}');
        }
        json.append("]}\n");
        try (Writer w = new FileWriter(outJson)) {
            w.write(json.toString());
        } catch (IOException e) {
            System.err.println("cannot write " + outJson + ": " + e);
            System.exit(1);
        }
        System.exit(done ? 0 : 1);
    }
}
