//! An honest task except that metric accumulation panics on its first chunk.
use scivid_sdk::{Metric, Metrics, Result, Tensor};

struct Boom(usize);
impl Metrics for Boom {
    fn new(_: &str) -> Self {
        Boom(0)
    }
    fn update(&mut self, _: &Tensor, _: &Tensor) -> Result<()> {
        self.0 += 1;
        if self.0 == 1 {
            panic!("metrics-panic: deliberate panic in the middle of accumulation");
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        Ok(vec![Metric {
            name: "accuracy".into(),
            value: 0.0,
        }])
    }
}

struct PanicTask;
hostile_common::honest_task!(PanicTask, "metrics-panic", metrics = Boom);
scivid_sdk::export_task!(PanicTask);
