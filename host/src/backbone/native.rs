//! Native backbones from trusted `cdylib`s (`--backbone-lib lib.so`),
//! through the C ABI of `scivid-backbone-abi`: the per-major entry symbol,
//! the table's semver string checked before anything else is touched, its
//! size for fields added later, raw f32 buffers only, errors as codes plus
//! a message. This is not a sandbox; the library is never unloaded.

use super::{Backbone, FeatureShape};
use anyhow::{Context, Result, bail};
use burn::tensor::{Tensor, TensorData};
use scivid_backbone_abi::{ABI_VERSION, BackboneV1, ENTRY_SYMBOL};
use std::ffi::{CStr, c_char};
use std::path::Path;

pub struct NativeLib {
    table: &'static BackboneV1,
    name: String,
    describe: serde_json::Value,
}

/// A NUL-terminated string from the plugin.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that outlives the call.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

pub fn load(path: &Path) -> Result<NativeLib> {
    let shown = path.display();
    // SAFETY: loading runs the library's initialisers: native backbones are
    // trusted code by definition (documented; Wasm is the sandbox).
    let lib = unsafe { libloading::Library::new(path) }
        .with_context(|| format!("cannot load native backbone {shown}"))?;
    let entry_name = String::from_utf8_lossy(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1]).into_owned();
    // SAFETY: the symbol's type is fixed by the ABI for this major.
    let entry: libloading::Symbol<extern "C" fn() -> *const BackboneV1> =
        unsafe { lib.get(ENTRY_SYMBOL) }.with_context(|| {
            format!("{shown}: no `{entry_name}` symbol (not a scivid native backbone of ABI 1.x)")
        })?;
    let ptr = entry();
    if ptr.is_null() {
        bail!("{shown}: `{entry_name}` returned no table (the plugin failed to start)");
    }
    // Never unloaded: the table and its functions live as long as the process.
    std::mem::forget(lib);
    // SAFETY: a non-null table from the entry point is static.
    let table: &'static BackboneV1 = unsafe { &*ptr };
    // The first two fields are where every 1.x plugin puts them: read the
    // version before trusting anything else.
    let min = std::mem::offset_of!(BackboneV1, abi_version) + std::mem::size_of::<*const c_char>();
    if table.struct_size < min {
        bail!(
            "{shown}: table of {} bytes is too small to be a scivid backbone",
            table.struct_size
        );
    }
    // SAFETY: the plugin's static NUL-terminated version string.
    let version = unsafe { text(table.abi_version) };
    let plugin = semver::Version::parse(&version)
        .with_context(|| format!("{shown}: ABI version `{version}` is not semver"))?;
    let host = semver::Version::parse(ABI_VERSION).expect("valid");
    let req = semver::VersionReq::parse(&format!("^{plugin}")).expect("valid");
    if !req.matches(&host) {
        bail!(
            "{shown}: refused: built against backbone ABI {plugin}, but this scivid implements ABI {host}; {}",
            if plugin > host {
                "upgrade scivid"
            } else {
                "rebuild the library against scivid-backbone-abi 1.x"
            }
        );
    }
    if table.struct_size < std::mem::size_of::<BackboneV1>() {
        bail!(
            "{shown}: table of {} bytes lacks fields of ABI {host} ({} bytes)",
            table.struct_size,
            std::mem::size_of::<BackboneV1>()
        );
    }
    // SAFETY: static strings of the table.
    let (name, describe) = unsafe { (text(table.name), text(table.describe)) };
    let describe = serde_json::from_str(&describe)
        .unwrap_or_else(|_| serde_json::Value::String(describe.clone()));
    Ok(NativeLib {
        table,
        name,
        describe,
    })
}

impl NativeLib {
    fn error(&self, call: &str) -> anyhow::Error {
        // SAFETY: the plugin's thread-local message, valid until its next call.
        let msg = unsafe { text((self.table.last_error)()) };
        anyhow::anyhow!("native backbone `{}`: {call}: {msg}", self.name)
    }
}

impl Backbone for NativeLib {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({"backbone": self.name, "family": "native", "abi": ABI_VERSION, "library": self.describe})
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let mut out = [0u32; 4];
        let rc = (self.table.feature_shape)(
            frames as u32,
            height as u32,
            width as u32,
            out.as_mut_ptr(),
        );
        if rc != 0 {
            return Err(self.error("feature shape"));
        }
        Ok(FeatureShape {
            time: out[0] as usize,
            grid_h: out[1] as usize,
            grid_w: out[2] as usize,
            dim: out[3] as usize,
        })
    }

    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        let [b, t, h, w, c] = video.dims();
        let s = self.feature_shape(t, h, w)?;
        let input = video
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let dims = [b as u32, t as u32, h as u32, w as u32, c as u32];
        let mut out = vec![0f32; b * s.time * s.tokens() * s.dim];
        let rc = (self.table.forward)(
            input.as_ptr(),
            input.len(),
            dims.as_ptr(),
            out.as_mut_ptr(),
            out.len(),
        );
        if rc != 0 {
            return Err(self.error("forward"));
        }
        Ok(Tensor::from_data(
            TensorData::new(out, [b, s.time, s.tokens(), s.dim]),
            &burn::tensor::Device::flex(),
        ))
    }
}
