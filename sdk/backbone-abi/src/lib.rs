//! # scivid-backbone-abi
//!
//! The C ABI of native backbone plugins: a `cdylib` that `scivid` loads with
//! `--backbone-lib path/to/lib.so`. Native code is **trusted** (this is not
//! a sandbox: use Wasm plugins for code you do not trust). The rules:
//!
//! - One entry symbol per ABI major, [`ENTRY_SYMBOL`] (`scivid_backbone_v1`),
//!   returning a pointer to a static [`BackboneV1`] table.
//! - The table starts with its own size and a semver string; the host reads
//!   and checks the version first and refuses an incompatible plugin with
//!   both versions named. New fields are only ever appended (minor
//!   versions); `struct_size` tells the host which ones a plugin has.
//! - Only raw buffers cross: f32 arrays with explicit lengths, and
//!   NUL-terminated UTF-8 strings owned by the plugin.
//! - No panic may cross the boundary: [`export_backbone!`] wraps every entry
//!   in `catch_unwind` and turns a panic into an error code and message.
//! - The host never unloads the library.
//!
//! A plugin implements [`NativeBackbone`] and calls [`export_backbone!`].

use std::ffi::{c_char, c_int};

/// The ABI version this crate describes (semver).
pub const ABI_VERSION: &str = "1.0.0";
/// NUL-terminated [`ABI_VERSION`], for the table.
pub const ABI_VERSION_C: &[u8] = b"1.0.0\0";
/// The entry symbol of ABI major 1.
pub const ENTRY_SYMBOL: &[u8] = b"scivid_backbone_v1\0";

/// The table a plugin exports (ABI 1.x). Fields are only ever appended.
#[repr(C)]
pub struct BackboneV1 {
    /// `size_of::<BackboneV1>()` as the plugin was built.
    pub struct_size: usize,
    /// Semver of the ABI the plugin was built against (NUL-terminated).
    pub abi_version: *const c_char,
    /// The backbone's name (NUL-terminated).
    pub name: *const c_char,
    /// JSON describing everything that changes the features (NUL-terminated).
    pub describe: *const c_char,
    /// Feature shape for clips of frames x height x width: writes
    /// [time, grid_h, grid_w, dim] to `out`. 0 on success.
    pub feature_shape: extern "C" fn(frames: u32, height: u32, width: u32, out: *mut u32) -> c_int,
    /// video [b, t, h, w, 3] (f32 in [0, 1], `video_len` values) -> features
    /// [b, time, grid_h * grid_w, dim] written to `out` (`out_len` values).
    /// 0 on success.
    pub forward: extern "C" fn(
        video: *const f32,
        video_len: usize,
        dims: *const u32,
        out: *mut f32,
        out_len: usize,
    ) -> c_int,
    /// The message of the last failed call on this thread (NUL-terminated).
    pub last_error: extern "C" fn() -> *const c_char,
}

// SAFETY: the table holds only pointers to immutable static data and to
// functions; nothing in it is ever written after it is built.
unsafe impl Sync for BackboneV1 {}
// SAFETY: as above.
unsafe impl Send for BackboneV1 {}

/// What a native backbone implements.
pub trait NativeBackbone {
    fn name() -> &'static str;
    /// JSON describing the model (weights, preprocessing, layer).
    fn describe() -> String;
    /// [time, grid_h, grid_w, dim] for clips of frames x height x width.
    fn feature_shape(frames: u32, height: u32, width: u32) -> Result<[u32; 4], String>;
    /// video [b, t, h, w, 3] -> features [b, time, tokens, dim], row-major.
    fn forward(video: &[f32], dims: [u32; 5], out: &mut [f32]) -> Result<(), String>;
}

#[doc(hidden)]
pub mod __rt {
    //! Glue for [`export_backbone!`](crate::export_backbone).
    use super::*;
    use std::cell::RefCell;
    use std::ffi::CString;

    thread_local! {
        static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    }

    pub fn set_error(msg: String) -> c_int {
        let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        LAST_ERROR.with(|e| *e.borrow_mut() = c);
        1
    }

    pub extern "C" fn last_error() -> *const c_char {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }

    /// Run `f`, turning an error or a panic into an error code.
    pub fn guarded(f: impl FnOnce() -> Result<(), String> + std::panic::UnwindSafe) -> c_int {
        match std::panic::catch_unwind(f) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => set_error(e),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                set_error(format!("panicked: {msg}"))
            }
        }
    }

    /// A leaked NUL-terminated copy of `s` (lives as long as the library).
    pub fn leak_c(s: String) -> *const c_char {
        CString::new(s.replace('\0', " "))
            .unwrap_or_default()
            .into_raw()
    }
}

/// Export a [`NativeBackbone`] as `scivid_backbone_v1`.
#[macro_export]
macro_rules! export_backbone {
    ($t:ty) => {
        $crate::__export_backbone_with_version!($t, $crate::ABI_VERSION_C);
    };
}

/// Like [`export_backbone!`] but declaring another ABI version (tests of
/// the host's version check only).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_backbone_with_version {
    ($t:ty, $version:expr) => {
        extern "C" fn __scivid_feature_shape(
            frames: u32,
            height: u32,
            width: u32,
            out: *mut u32,
        ) -> ::std::ffi::c_int {
            $crate::__rt::guarded(|| {
                let s = <$t as $crate::NativeBackbone>::feature_shape(frames, height, width)?;
                // SAFETY: the host passes a buffer of 4 u32.
                unsafe { ::std::ptr::copy_nonoverlapping(s.as_ptr(), out, 4) };
                Ok(())
            })
        }
        extern "C" fn __scivid_forward(
            video: *const f32,
            video_len: usize,
            dims: *const u32,
            out: *mut f32,
            out_len: usize,
        ) -> ::std::ffi::c_int {
            $crate::__rt::guarded(|| {
                // SAFETY: the host passes buffers of the lengths it states
                // and 5 dims; they live for the duration of the call.
                let (video, dims, out) = unsafe {
                    (
                        ::std::slice::from_raw_parts(video, video_len),
                        ::std::slice::from_raw_parts(dims, 5),
                        ::std::slice::from_raw_parts_mut(out, out_len),
                    )
                };
                let dims: [u32; 5] = dims.try_into().map_err(|_| "bad dims".to_string())?;
                <$t as $crate::NativeBackbone>::forward(video, dims, out)
            })
        }
        /// The entry point: the table, or null if building it panicked.
        #[unsafe(no_mangle)]
        pub extern "C" fn scivid_backbone_v1() -> *const $crate::BackboneV1 {
            static TABLE: ::std::sync::OnceLock<$crate::BackboneV1> = ::std::sync::OnceLock::new();
            ::std::panic::catch_unwind(|| {
                TABLE.get_or_init(|| $crate::BackboneV1 {
                    struct_size: ::std::mem::size_of::<$crate::BackboneV1>(),
                    abi_version: $version.as_ptr() as *const ::std::ffi::c_char,
                    name: $crate::__rt::leak_c(<$t as $crate::NativeBackbone>::name().to_string()),
                    describe: $crate::__rt::leak_c(<$t as $crate::NativeBackbone>::describe()),
                    feature_shape: __scivid_feature_shape,
                    forward: __scivid_forward,
                    last_error: $crate::__rt::last_error,
                }) as *const $crate::BackboneV1
            })
            .unwrap_or(::std::ptr::null())
        }
    };
}
