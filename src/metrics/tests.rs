use std::time::Duration;

use super::*;

#[test]
fn a_histogram_counts_each_observation_in_its_bucket() {
    let h = Histogram::new(&[0.001, 0.01]);
    h.observe(Duration::from_micros(500));
    h.observe(Duration::from_millis(1));
    h.observe(Duration::from_millis(5));
    h.observe(Duration::from_secs(2));
    let s = h.snapshot();
    assert_eq!(s.count, 4);
    assert_eq!(h.count(), 4);
    // A value on a bound belongs to that bound's bucket (le).
    assert_eq!(s.buckets, vec![(0.001, 2), (0.01, 1), (f64::INFINITY, 1)]);
    assert!((s.sum - 2.0065).abs() < 1e-9, "{}", s.sum);
}

#[test]
fn a_page_is_prometheus_text() {
    let mut page = Page::new();
    page.declare("x_empty", "Nothing yet.", MetricType::Counter);
    page.counter("x_calls", "Calls.", vec![("method", "VDI.copy".into())], 3);
    page.counter(
        "x_calls",
        "Calls.",
        vec![("method", "a\"b\\c\nd".into())],
        1,
    );
    page.gauge("x_level", "A level.", vec![], 1.5);
    let h = Histogram::new(&[0.5]);
    h.observe(Duration::from_millis(100));
    page.histogram(
        "x_seconds",
        "Durations.",
        vec![("k", "v".into())],
        h.snapshot(),
    );
    let text = page.render();
    let expected = "\
# HELP x_empty_total Nothing yet.
# TYPE x_empty_total counter
# HELP x_calls_total Calls.
# TYPE x_calls_total counter
x_calls_total{method=\"VDI.copy\"} 3
x_calls_total{method=\"a\\\"b\\\\c\\nd\"} 1
# HELP x_level A level.
# TYPE x_level gauge
x_level 1.5
# HELP x_seconds Durations.
# TYPE x_seconds histogram
x_seconds_bucket{k=\"v\",le=\"0.5\"} 1
x_seconds_bucket{k=\"v\",le=\"+Inf\"} 1
x_seconds_sum{k=\"v\"} 0.1
x_seconds_count{k=\"v\"} 1
";
    assert_eq!(text, expected);
}
