//! `print`/`pprint` in Spark's exact (Scala) format.

use crate::data::{Batch, Data, SparkDisplay};
use crate::time::Time;
use std::fmt::Write;

/// The 43-dash rule line of Spark's `print`.
const RULE: &str = "-------------------------------------------";

/// What Spark's `DStream.print(num)` prints for one batch: a header with the batch time, the first
/// `num` elements, `...` if there are more, and a blank line.
///
/// ```
/// use dstreams::{Batch, Time, format_batch};
/// let b = Batch::from_vec(vec![("hello".to_string(), 1), ("world".to_string(), 1)], 1);
/// assert_eq!(
///     format_batch(&b, Time::from_millis(1357008430000), 10),
///     "-------------------------------------------\nTime: 1357008430000 ms\n-------------------------------------------\n(hello,1)\n(world,1)\n\n"
/// );
/// ```
pub fn format_batch<T: Data>(batch: &Batch<T>, time: Time, num: usize) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(s, "{RULE}\nTime: {time}\n{RULE}");
    let mut taken = batch.iter().take(num.saturating_add(1));
    for v in taken.by_ref().take(num) {
        let _ = writeln!(s, "{}", SparkDisplay::<T>(v));
    }
    if taken.next().is_some() {
        s.push_str("...\n");
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_batch_prints_header_and_blank_line() {
        let b: Batch<i64> = Batch::empty();
        assert_eq!(
            format_batch(&b, Time::from_millis(1000), 10),
            format!("{RULE}\nTime: 1000 ms\n{RULE}\n\n")
        );
    }

    #[test]
    fn ellipsis_only_past_num() {
        let exactly = Batch::from_vec((1..=3).collect::<Vec<i64>>(), 2);
        assert!(!format_batch(&exactly, Time::from_millis(1), 3).contains("..."));
        let more = Batch::from_vec((1..=4).collect::<Vec<i64>>(), 2);
        assert_eq!(
            format_batch(&more, Time::from_millis(1), 3),
            format!("{RULE}\nTime: 1 ms\n{RULE}\n1\n2\n3\n...\n\n")
        );
    }
}
