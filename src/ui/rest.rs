//! Spark's streaming REST API (`/api/v1/...`), with the paths, JSON field names, units and
//! statuses of Spark's `status/api/v1/streaming` classes: dates as `2026-12-04T18:33:00.000GMT`,
//! delays and durations in ms, rates in records per second, batch ids the batch times in ms,
//! absent optional values left out.
//!
//! Where dstreams knows less than Spark: an input reports its records when its batch ends, so
//! active batches have an `inputSize` of 0, numbers of records and rates count completed batches
//! only, and `numReceivedRecords` equals `numProcessedRecords`; an active batch's output
//! operations are those that started; there are no Spark jobs, so `jobIds` is empty.

use super::server::Reply;
use super::snapshot::UiSnapshot;
use crate::context::{BatchInfo, OutputOperationInfo};
use serde::Serialize;

/// `GET /api/v1/applications`: Spark's `ApplicationInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Application {
    id: String,
    name: String,
    attempts: Vec<ApplicationAttempt>,
}

/// Spark's `ApplicationAttemptInfo` of a running application (its end time is Spark's
/// "not ended", epoch ms -1).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationAttempt {
    start_time: String,
    end_time: String,
    last_updated: String,
    duration: i64,
    spark_user: String,
    completed: bool,
    app_spark_version: String,
    start_time_epoch: i64,
    end_time_epoch: i64,
    last_updated_epoch: i64,
}

/// `.../streaming/statistics`: Spark's `StreamingStatistics`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    start_time: String,
    batch_duration: i64,
    num_receivers: usize,
    num_active_receivers: usize,
    num_inactive_receivers: usize,
    num_total_completed_batches: u64,
    num_retained_completed_batches: usize,
    num_active_batches: usize,
    num_processed_records: u64,
    num_received_records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_input_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_scheduling_delay: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_processing_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_total_delay: Option<i64>,
}

/// `.../streaming/receivers[/<id>]`: Spark's `ReceiverInfo`, one per input stream (as Spark
/// lists them); the receiver's own fields only for streams a receiver feeds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Receiver {
    stream_id: usize,
    stream_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executor_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_event_rate: Option<f64>,
    /// `[batch time ms, records per second]` per retained completed batch.
    event_rates: Vec<(i64, f64)>,
}

/// `.../streaming/batches[/<id>]`: Spark's `BatchInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    batch_id: i64,
    batch_time: String,
    status: &'static str,
    batch_duration: i64,
    input_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduling_delay: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processing_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_delay: Option<i64>,
    num_active_output_ops: usize,
    num_completed_output_ops: usize,
    num_failed_output_ops: usize,
    num_total_output_ops: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_failure_reason: Option<String>,
}

/// `.../batches/<id>/operations[/<op>]`: Spark's `OutputOperationInfo`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    output_op_id: usize,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    job_ids: Vec<i64>,
}

/// Spark's batch statuses, in the order Spark lists them.
const STATUSES: [&str; 3] = ["COMPLETED", "QUEUED", "PROCESSING"];

/// Answers `GET /api/v1/<rest>` (`rest` split at `/`) from `snapshot` at wall clock `now`.
pub(crate) fn answer(rest: &[&str], query: &str, snapshot: &UiSnapshot, now: i64) -> Reply {
    let started = snapshot.start_time > 0;
    match rest {
        ["applications"] => {
            let apps: Vec<Application> = started
                .then(|| application(snapshot, now))
                .into_iter()
                .collect();
            Reply::json(&apps)
        }
        ["applications", app, ..] if !started || *app != snapshot.app_id => {
            Reply::not_found(format!("no such app: {app}"))
        }
        ["applications", _] => Reply::json(&application(snapshot, now)),
        ["applications", _, "streaming", "statistics"] => Reply::json(&statistics(snapshot)),
        ["applications", _, "streaming", "receivers"] => Reply::json(&receivers(snapshot)),
        ["applications", _, "streaming", "receivers", id] => {
            match id
                .parse::<usize>()
                .ok()
                .and_then(|id| receivers(snapshot).into_iter().find(|r| r.stream_id == id))
            {
                Some(receiver) => Reply::json(&receiver),
                None => Reply::not_found(format!("unknown receiver: {id}")),
            }
        }
        ["applications", _, "streaming", "batches"] => batches(snapshot, query),
        ["applications", _, "streaming", "batches", id, ops @ ..] => {
            let Some((info, completed)) = id.parse().ok().and_then(|id| snapshot.batch(id)) else {
                return Reply::not_found(format!("unknown batch: {id}"));
            };
            match ops {
                [] => Reply::json(&batch(info, completed, snapshot.batch_duration)),
                ["operations"] => Reply::json(
                    &info
                        .output_operation_infos
                        .values()
                        .map(operation)
                        .collect::<Vec<_>>(),
                ),
                ["operations", op] => match op
                    .parse::<usize>()
                    .ok()
                    .and_then(|op| info.output_operation_infos.get(&op))
                {
                    Some(info) => Reply::json(&operation(info)),
                    None => Reply::not_found(format!("unknown output operation: {op}")),
                },
                _ => Reply::not_found(format!("unknown path: /api/v1/{}", rest.join("/"))),
            }
        }
        _ => Reply::not_found(format!("unknown path: /api/v1/{}", rest.join("/"))),
    }
}

fn application(s: &UiSnapshot, now: i64) -> Application {
    Application {
        id: s.app_id.clone(),
        name: s.app_name.clone(),
        attempts: vec![ApplicationAttempt {
            start_time: spark_date(s.start_time),
            end_time: spark_date(-1),
            last_updated: spark_date(now),
            duration: now - s.start_time,
            spark_user: std::env::var("USER").unwrap_or_default(),
            completed: false,
            app_spark_version: concat!("dstreams ", env!("CARGO_PKG_VERSION")).to_string(),
            start_time_epoch: s.start_time,
            end_time_epoch: -1,
            last_updated_epoch: now,
        }],
    }
}

/// Spark's average of a `Long` metric: the integer mean, `None` without values.
fn average(values: impl Iterator<Item = i64>) -> Option<i64> {
    let (sum, n) = values.fold((0i64, 0i64), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n)
}

/// Records per second of `records` in one batch.
fn rate(records: u64, batch_duration: i64) -> f64 {
    records as f64 * 1000.0 / batch_duration as f64
}

fn statistics(s: &UiSnapshot) -> Statistics {
    let rates: Vec<f64> = s
        .completed
        .iter()
        .map(|b| rate(b.num_records(), s.batch_duration))
        .collect();
    let receivers = s.inputs.iter().filter(|i| i.receiver).count();
    let active_receivers = s.receivers.values().filter(|r| r.info.active).count();
    Statistics {
        start_time: spark_date(s.start_time),
        batch_duration: s.batch_duration,
        num_receivers: receivers,
        num_active_receivers: active_receivers,
        num_inactive_receivers: receivers.saturating_sub(active_receivers),
        num_total_completed_batches: s.completed_batches,
        num_retained_completed_batches: s.completed.len(),
        num_active_batches: s.active.len(),
        num_processed_records: s.processed_records,
        num_received_records: s.processed_records,
        avg_input_rate: (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64),
        avg_scheduling_delay: average(s.retained().filter_map(BatchInfo::scheduling_delay)),
        avg_processing_time: average(s.retained().filter_map(BatchInfo::processing_delay)),
        avg_total_delay: average(s.retained().filter_map(BatchInfo::total_delay)),
    }
}

fn receivers(s: &UiSnapshot) -> Vec<Receiver> {
    s.inputs
        .iter()
        .map(|input| {
            let event_rates: Vec<(i64, f64)> = s
                .completed
                .iter()
                .map(|b| {
                    let records = b
                        .stream_id_to_input_info
                        .get(&input.id)
                        .map_or(0, |i| i.num_records);
                    (b.batch_time.as_millis(), rate(records, s.batch_duration))
                })
                .collect();
            let receiver = s.receivers.get(&input.id);
            let error = receiver.and_then(|r| r.info.last_error.clone());
            Receiver {
                stream_id: input.id,
                stream_name: receiver.map_or_else(|| input.name.clone(), |r| r.info.name.clone()),
                is_active: receiver.map(|r| r.info.active),
                executor_id: receiver.map(|_| "driver".to_string()),
                executor_host: receiver.map(|_| "localhost".to_string()),
                last_error_time: receiver.and_then(|r| r.last_error_time).map(spark_date),
                last_error_message: error.clone(),
                last_error: error,
                avg_event_rate: (!event_rates.is_empty()).then(|| {
                    event_rates.iter().map(|(_, r)| r).sum::<f64>() / event_rates.len() as f64
                }),
                event_rates,
            }
        })
        .collect()
}

/// `.../batches?status=...`: retained batches of the given statuses (all without one), newest
/// first.
fn batches(s: &UiSnapshot, query: &str) -> Reply {
    let mut wanted = Vec::new();
    for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if key != "status" {
            continue;
        }
        match STATUSES.iter().find(|s| s.eq_ignore_ascii_case(value)) {
            Some(status) => wanted.push(*status),
            None => {
                return Reply::error(
                    400,
                    format!("unknown status: {value} (one of {})", STATUSES.join(", ")),
                );
            }
        }
    }
    let completed = s.completed.iter().map(|b| (b.as_ref(), true));
    let active = s.active.values().map(|b| (b, false));
    let mut list: Vec<Batch> = completed
        .chain(active)
        .map(|(b, done)| batch(b, done, s.batch_duration))
        .filter(|b| wanted.is_empty() || wanted.contains(&b.status))
        .collect();
    list.sort_by_key(|b| std::cmp::Reverse(b.batch_id));
    Reply::json(&list)
}

fn batch(b: &BatchInfo, completed: bool, batch_duration: i64) -> Batch {
    let ops = &b.output_operation_infos;
    let ended = |o: &&OutputOperationInfo| o.end_time.is_some();
    let id = b.batch_time.as_millis();
    Batch {
        batch_id: id,
        batch_time: spark_date(id),
        status: if completed {
            "COMPLETED"
        } else if b.processing_start_time.is_some() {
            "PROCESSING"
        } else {
            "QUEUED"
        },
        batch_duration,
        input_size: b.num_records(),
        scheduling_delay: b.scheduling_delay(),
        processing_time: b.processing_delay(),
        total_delay: b.total_delay(),
        num_active_output_ops: ops.values().filter(|o| !ended(o)).count(),
        num_completed_output_ops: ops
            .values()
            .filter(|o| ended(o) && o.failure_reason.is_none())
            .count(),
        num_failed_output_ops: ops.values().filter(|o| o.failure_reason.is_some()).count(),
        num_total_output_ops: ops.len(),
        first_failure_reason: ops.values().find_map(|o| o.failure_reason.clone()),
    }
}

fn operation(o: &OutputOperationInfo) -> Operation {
    Operation {
        output_op_id: o.id,
        name: o.name.clone(),
        description: o.description.clone(),
        start_time: o.start_time.map(spark_date),
        end_time: o.end_time.map(spark_date),
        duration: o.duration(),
        failure_reason: o.failure_reason.clone(),
        job_ids: Vec::new(),
    }
}

/// Epoch ms as Spark's REST API writes dates: `2026-12-04T18:33:00.000GMT`.
pub(crate) fn spark_date(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}GMT",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_spark_writes_them() {
        assert_eq!(spark_date(0), "1970-01-01T00:00:00.000GMT");
        assert_eq!(spark_date(-1), "1969-12-31T23:59:59.999GMT");
        assert_eq!(spark_date(1_796_409_180_000), "2026-12-04T18:33:00.000GMT");
        assert_eq!(spark_date(951_782_400_123), "2000-02-29T00:00:00.123GMT");
    }

    #[test]
    fn averages_are_spark_integer_means() {
        assert_eq!(average([3, 4].into_iter()), Some(3));
        assert_eq!(average(std::iter::empty()), None);
    }
}
