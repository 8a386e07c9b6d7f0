//! Generated guest bindings for the WIT in `sdk/wit`. Plugin authors use the
//! wrappers in the crate root; these modules are public only because the
//! export macros expand inside the plugin crate.

/// The imported tensor and type interfaces, shared by both worlds.
pub mod shared {
    wit_bindgen::generate!({
        path: "wit",
        world: "tensors",
        runtime_path: "::scivid_sdk::__wit_bindgen::rt",
        generate_all,
    });
}

/// The `task-with-sampled-clips` world: `task-api` and, since 0.2.4,
/// `task-sampled-clips`.
pub mod task {
    wit_bindgen::generate!({
        path: "wit",
        world: "task-with-sampled-clips",
        runtime_path: "::scivid_sdk::__wit_bindgen::rt",
        with: {
            "scivid:plugin/tensor@0.2.4": crate::bindings::shared::scivid::plugin::tensor,
            "scivid:plugin/types@0.2.4": crate::bindings::shared::scivid::plugin::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_task_world",
        default_bindings_module: "::scivid_sdk::bindings::task",
    });
}

/// The `readout` world.
pub mod readout {
    wit_bindgen::generate!({
        path: "wit",
        world: "readout",
        runtime_path: "::scivid_sdk::__wit_bindgen::rt",
        with: {
            "scivid:plugin/tensor@0.2.4": crate::bindings::shared::scivid::plugin::tensor,
            "scivid:plugin/types@0.2.4": crate::bindings::shared::scivid::plugin::types,
        },
        pub_export_macro: true,
        export_macro_name: "__export_readout_world",
        default_bindings_module: "::scivid_sdk::bindings::readout",
    });
}
