//! A task that claims to be built against SDK 9.0.0: the host must refuse it
//! before compiling, naming both versions.
use scivid_sdk::{ClipSpec, Metric, Metrics, Result, Task, TaskInfo, Tensor};

struct Future;
struct None_;

impl Metrics for None_ {
    fn new(_: &str) -> Self {
        None_
    }
    fn update(&mut self, _: &Tensor, _: &Tensor) -> Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        Ok(vec![])
    }
}

impl Task for Future {
    type Metrics = None_;
    fn info() -> TaskInfo {
        unreachable!("never instantiated")
    }
    fn splits() -> Vec<String> {
        vec![]
    }
    fn index(_: &str) -> Result<Vec<ClipSpec>> {
        Ok(vec![])
    }
    fn loss(p: &Tensor, t: &Tensor) -> Result<Tensor> {
        p.mse(t)
    }
    fn control(t: &Tensor, _: &[ClipSpec]) -> Result<Tensor> {
        t.mean(&[0], true)
    }
}

scivid_sdk::__export_task_with_version!(Future, "9.0.0");
