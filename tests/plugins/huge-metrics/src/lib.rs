//! An honest task whose metrics are a flood: 100,000 entries with long names.
use scivid_sdk::{Metric, Metrics, Result, Tensor};

struct Flood;
impl Metrics for Flood {
    fn new(_: &str) -> Self {
        Flood
    }
    fn update(&mut self, _: &Tensor, _: &Tensor) -> Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        Ok((0..100_000)
            .map(|i| Metric {
                name: format!("{i:0>1000}"),
                value: i as f64,
            })
            .collect())
    }
}

struct HugeTask;
hostile_common::honest_task!(HugeTask, "huge-metrics", metrics = Flood);
scivid_sdk::export_task!(HugeTask);
