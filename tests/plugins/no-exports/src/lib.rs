//! A component with the SDK version section but neither world's exports.
scivid_sdk::__sdk_version_section!(scivid_sdk::SDK_VERSION);

#[unsafe(no_mangle)]
pub extern "C" fn unrelated() -> i32 {
    42
}
