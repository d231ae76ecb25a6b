//! One scrape's page: families of samples gathered by the caller, then
//! written in Prometheus' text format (0.0.4) by `prometheus-client`.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::HistogramSnapshot;

/// A sample's labels: names and values, in order.
pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
enum Sample {
    Counter(u64),
    Gauge(f64),
    Histogram(HistogramSnapshot),
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    samples: Vec<(Labels, Sample)>,
}

/// The families of one scrape, in the order they were first named.
#[derive(Debug, Default)]
pub struct Page {
    families: Vec<Family>,
}

impl Page {
    /// An empty page.
    pub fn new() -> Page {
        Page::default()
    }

    fn family(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: MetricType,
    ) -> &mut Vec<(Labels, Sample)> {
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[i].samples
    }

    /// Declares a family with no sample yet (so a scrape always lists it,
    /// with its help and type, even when there is nothing to count).
    pub fn declare(&mut self, name: &'static str, help: &'static str, kind: MetricType) {
        self.family(name, help, kind);
    }

    /// A counter sample; `name` without `_total` (the encoder adds it).
    pub fn counter(&mut self, name: &'static str, help: &'static str, labels: Labels, v: u64) {
        self.family(name, help, MetricType::Counter)
            .push((labels, Sample::Counter(v)));
    }

    /// A gauge sample.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, labels: Labels, v: f64) {
        self.family(name, help, MetricType::Gauge)
            .push((labels, Sample::Gauge(v)));
    }

    /// A histogram sample.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: Labels,
        h: HistogramSnapshot,
    ) {
        self.family(name, help, MetricType::Histogram)
            .push((labels, Sample::Histogram(h)));
    }

    /// The page in Prometheus' text format.
    pub fn render(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Families(Arc::new(self.families))));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

/// The page's families as a collector the encoder calls back.
#[derive(Debug)]
struct Families(Arc<Vec<Family>>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in self.0.iter() {
            let mut m = encoder.encode_descriptor(f.name, f.help, None, f.kind)?;
            for (labels, sample) in &f.samples {
                let mut e = m.encode_family(labels)?;
                match sample {
                    Sample::Counter(n) => e.encode_counter::<NoLabelSet, u64, u64>(n, None)?,
                    Sample::Gauge(x) => e.encode_gauge(x)?,
                    Sample::Histogram(h) => {
                        e.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?
                    }
                }
            }
        }
        Ok(())
    }
}
