//! Hostile plugins are stopped with an error naming the plugin and the limit,
//! while the rest of the run finishes.

use crate::common::{quick_spec, test_plugin};
use scivid::pipeline;

fn run_with_hostile(
    hostile: &str,
    tweak: impl FnOnce(&mut scivid::runtime::Budgets),
) -> scivid::report::TaskResult {
    let out = tempfile::tempdir().unwrap();
    let path = test_plugin(hostile);
    let bad = format!("bad={}", path.display());
    let mut spec = quick_spec(out.path(), &["good=linear:pool=flatten", &bad], 40);
    tweak(&mut spec.budgets);
    let results = pipeline::run(&spec).expect("the run itself must survive");
    results.tasks.into_iter().next().unwrap()
}

fn assert_good_head_finished(task: &scivid::report::TaskResult) {
    assert!(task.error.is_none(), "{:?}", task.error);
    let good = &task.heads[0];
    assert!(good.error.is_none(), "{:?}", good.error);
    assert_eq!(good.steps, 40);
    assert!(good.scores["test"]["accuracy"] > task.control["test"]["accuracy"]);
}

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let task = run_with_hostile("hostile-loop", |b| b.fuel_per_call = 200_000_000);
    let e = task.heads[1].error.as_deref().unwrap();
    assert!(
        e.contains("hostile-loop") && e.contains("fuel budget") && e.contains("--budget-fuel"),
        "{e}"
    );
    assert_good_head_finished(&task);
}

#[test]
fn infinite_loop_is_stopped_by_the_wall_clock() {
    let task = run_with_hostile("hostile-loop", |b| {
        b.fuel_per_call = u64::MAX;
        b.wall_ms_per_call = 300;
    });
    let e = task.heads[1].error.as_deref().unwrap();
    assert!(
        e.contains("hostile-loop") && e.contains("wall-time budget") && e.contains("300 ms"),
        "{e}"
    );
    assert_good_head_finished(&task);
}

#[test]
fn unbounded_allocation_is_stopped_by_the_memory_limit() {
    let task = run_with_hostile("hostile-alloc", |b| b.memory_bytes = 64 << 20);
    let e = task.heads[1].error.as_deref().unwrap();
    assert!(
        e.contains("hostile-alloc") && e.contains("memory budget") && e.contains("--budget-memory"),
        "{e}"
    );
    assert_good_head_finished(&task);
}

#[test]
fn a_head_that_cuts_the_graph_fails_loudly_after_the_first_step() {
    let task = run_with_hostile("cut-graph", |_| {});
    let e = task.heads[1].error.as_deref().unwrap();
    assert!(e.contains("parameter(s) w received no gradient"), "{e}");
    assert_eq!(
        task.heads[1].steps, 0,
        "no update may be applied from a graph-less loss"
    );
    assert_good_head_finished(&task);
}

#[test]
fn a_run_whose_only_head_cuts_the_graph_reports_it_instead_of_crashing() {
    let out = tempfile::tempdir().unwrap();
    let bad = format!("bad={}", test_plugin("cut-graph").display());
    let results = pipeline::run(&quick_spec(out.path(), &[&bad], 10)).unwrap();
    let e = results.tasks[0].heads[0].error.as_deref().unwrap();
    assert!(e.contains("received no gradient"), "{e}");
    assert!(
        results.tasks[0].error.is_none(),
        "the task and its control still finish"
    );
    assert!(results.tasks[0].control.contains_key("test"));
}

#[test]
fn budgets_can_be_set_for_one_plugin_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::motion_data();
    let bad = format!("bad={}", test_plugin("hostile-loop").display());
    let (code, out, err) = crate::common::scivid(
        &[
            "run",
            "--task",
            "motion",
            "--backbone",
            "pixel8",
            "--data",
            data.to_str().unwrap(),
            "--readout",
            "good=linear:pool=flatten",
            "--readout",
            &bad,
            "--budget-for",
            "bad:fuel=200000000,wall_ms=60000",
            "--steps",
            "5",
            "--quiet",
        ],
        dir.path(),
    );
    assert_eq!(
        code, 2,
        "a failed head makes the exit code 2:\n{out}\n{err}"
    );
    assert!(
        out.contains("head `bad` failed: plugin `hostile-loop`: forward: exceeded its fuel budget (200000000 units"),
        "{out}"
    );
    assert!(
        out.contains("| test | good |"),
        "the other head finished:\n{out}"
    );
    let (code, _, err) = crate::common::scivid(&["run", "--budget-for", "bad:speed=1"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("unknown budget `speed`"), "{err}");
}
