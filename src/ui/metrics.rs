//! `GET /metrics`: the snapshot in Prometheus' text exposition format (version 0.0.4).

use super::snapshot::{BUCKETS, Histogram, UiSnapshot};
use std::fmt::Write;

/// The metrics of `s`, every family with its `# HELP` and `# TYPE`.
pub(crate) fn render(s: &UiSnapshot) -> String {
    let mut out = Metrics(String::new());
    out.histogram(
        "dstreams_batch_processing_seconds",
        "Time from a batch's start to its end (Spark's processing time).",
        &s.processing,
    );
    out.histogram(
        "dstreams_batch_scheduling_delay_seconds",
        "Time a batch waited from its submission to its start.",
        &s.scheduling_delay,
    );
    out.histogram(
        "dstreams_batch_total_delay_seconds",
        "Scheduling delay plus processing time of a batch.",
        &s.total_delay,
    );
    out.family(
        "dstreams_batches_completed_total",
        "counter",
        "Batches completed, failed or not.",
        [(Vec::new(), s.completed_batches as f64)],
    );
    out.family(
        "dstreams_batches_failed_total",
        "counter",
        "Completed batches with a failed output operation.",
        [(Vec::new(), s.failed_batches as f64)],
    );
    out.family(
        "dstreams_active_batches",
        "gauge",
        "Batches submitted and not completed.",
        [(Vec::new(), s.active.len() as f64)],
    );
    if let Some(last) = s.completed.back() {
        out.family(
            "dstreams_last_completed_batch_time_seconds",
            "gauge",
            "Batch time of the last completed batch, seconds since the epoch.",
            [(Vec::new(), last.batch_time.as_millis() as f64 / 1000.0)],
        );
    }
    let stream_labels = |id: usize| {
        let name = s.inputs.iter().find(|i| i.id == id).map_or("", |i| &i.name);
        vec![("stream_id", id.to_string()), ("stream", name.to_string())]
    };
    out.family(
        "dstreams_input_records_total",
        "counter",
        "Records an input stream delivered to completed batches.",
        s.input_totals
            .iter()
            .map(|(id, t)| (stream_labels(*id), t.records as f64)),
    );
    out.family(
        "dstreams_input_bytes_total",
        "counter",
        "Bytes an input stream delivered to completed batches (sources that count bytes).",
        s.input_totals
            .iter()
            .filter_map(|(id, t)| Some((stream_labels(*id), t.bytes? as f64))),
    );
    let last_batch = s.completed.back();
    out.family(
        "dstreams_receiver_records_per_second",
        "gauge",
        "Records per second a receiver's stream delivered in the last completed batch.",
        s.receivers.keys().map(|id| {
            let records = last_batch
                .and_then(|b| b.stream_id_to_input_info.get(id))
                .map_or(0, |i| i.num_records);
            (
                stream_labels(*id),
                records as f64 * 1000.0 / s.batch_duration as f64,
            )
        }),
    );
    out.family(
        "dstreams_receiver_active",
        "gauge",
        "1 while a receiver runs, else 0.",
        s.receivers
            .iter()
            .map(|(id, r)| (stream_labels(*id), f64::from(u8::from(r.info.active)))),
    );
    out.family(
        "dstreams_receiver_errors_total",
        "counter",
        "Errors a receiver reported.",
        s.receivers
            .iter()
            .map(|(id, r)| (stream_labels(*id), r.errors as f64)),
    );
    out.family(
        "dstreams_kafka_lag_records",
        "gauge",
        "Records of a Kafka partition beyond the end of the last batch that read it.",
        s.kafka_lag
            .iter()
            .map(|(p, lag)| (vec![("partition", p.clone())], *lag as f64)),
    );
    out.family(
        "dstreams_state_keys",
        "gauge",
        "Keys holding a state in a stateful operator (by checkpoint id), after the last batch.",
        s.state_keys
            .iter()
            .map(|(op, keys)| (vec![("operator", op.clone())], *keys as f64)),
    );
    out.histogram(
        "dstreams_checkpoint_write_seconds",
        "Time to snapshot and write a checkpoint.",
        &s.checkpoints.seconds,
    );
    out.family(
        "dstreams_checkpoint_written_bytes_total",
        "counter",
        "Bytes of checkpoints written.",
        [(Vec::new(), s.checkpoints.bytes_total as f64)],
    );
    if let Some(bytes) = s.checkpoints.last_bytes {
        out.family(
            "dstreams_checkpoint_last_bytes",
            "gauge",
            "Size of the last checkpoint written.",
            [(Vec::new(), bytes as f64)],
        );
    }
    out.0
}

/// Labels of one sample: name and (unescaped) value.
type Labels = Vec<(&'static str, String)>;

struct Metrics(String);

impl Metrics {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            let _ = writeln!(self.0, "{name}{} {value}", label_set(&labels));
        }
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, "histogram", help);
        for (bound, n) in BUCKETS.iter().zip(&h.cumulative) {
            let _ = writeln!(self.0, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(self.0, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(self.0, "{name}_sum {}", h.sum_seconds);
        let _ = writeln!(self.0, "{name}_count {}", h.count);
    }
}

/// `{a="x",b="y"}`, values escaped as the format requires; empty without labels.
fn label_set(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let labels = vec![("operator", "a\"b\\c\nd".to_string())];
        assert_eq!(label_set(&labels), r#"{operator="a\"b\\c\nd"}"#);
        assert_eq!(label_set(&Vec::new()), "");
    }
}
