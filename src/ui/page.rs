//! The live page (`/`) and its assets, compiled into the binary: Spark's Streaming tab drawn by
//! a small script of its own (SVG by hand, no library, nothing fetched from outside) from the
//! REST API and `/metrics`, refreshed every batch interval, or every second when batches are
//! longer (never more often than every 200 ms).

/// The page.
pub(crate) const INDEX: &str = include_str!("assets/index.html");

/// The content type and text of `/static/<name>`.
pub(crate) fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "streaming.js" => Some((
            "text/javascript; charset=utf-8",
            include_str!("assets/streaming.js"),
        )),
        "streaming.css" => Some((
            "text/css; charset=utf-8",
            include_str!("assets/streaming.css"),
        )),
        _ => None,
    }
}
