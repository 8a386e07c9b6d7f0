//! Reading a plugin's SDK version (custom section `scivid:sdk-version`,
//! written by the SDK's export macros) and deciding compatibility with
//! `semver` before anything is compiled.

use anyhow::{Context, Result, bail};
use wasmparser::{Parser, Payload};

/// The SDK version this host implements (same as the `scivid-sdk` crate).
pub const HOST_SDK_VERSION: &str = "0.2.4";
pub const SECTION: &str = "scivid:sdk-version";

/// What a file looks like before any compilation.
#[derive(Debug, Clone, PartialEq)]
pub enum WasmKind {
    Component,
    CoreModule,
    NotWasm,
}

pub fn wasm_kind(bytes: &[u8]) -> WasmKind {
    if Parser::is_component(bytes) {
        WasmKind::Component
    } else if Parser::is_core_wasm(bytes) {
        WasmKind::CoreModule
    } else {
        WasmKind::NotWasm
    }
}

/// The SDK version recorded in a component, searching nested core modules
/// too (the section is written into the plugin's core module).
pub fn read_sdk_version(bytes: &[u8]) -> Result<Option<semver::Version>> {
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.context("malformed WebAssembly")?;
        if let Payload::CustomSection(reader) = payload
            && reader.name() == SECTION
        {
            let text =
                std::str::from_utf8(reader.data()).context("SDK version section is not UTF-8")?;
            let v = semver::Version::parse(text.trim_end_matches('\0')).with_context(|| {
                format!("SDK version section holds `{text}`, not a semver version")
            })?;
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// Accept a plugin built against `plugin` if this host implements a
/// semver-compatible version at least as new (`^plugin` matches the host).
pub fn check_compatible(plugin: &semver::Version) -> Result<()> {
    let host = semver::Version::parse(HOST_SDK_VERSION).expect("host SDK version is valid semver");
    let req =
        semver::VersionReq::parse(&format!("^{plugin}")).expect("a version is a valid requirement");
    if !req.matches(&host) {
        bail!(
            "built against scivid SDK {plugin}, but this host implements SDK {host}; {}",
            if plugin > &host {
                "upgrade scivid to load it"
            } else {
                "rebuild the plugin against a compatible scivid-sdk"
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_rules() {
        let v = |s| semver::Version::parse(s).unwrap();
        assert!(check_compatible(&v("0.2.0")).is_ok());
        assert!(
            check_compatible(&v("0.1.0")).is_err(),
            "0.1 -> 0.2 broke the WIT"
        );
        assert!(check_compatible(&v("0.3.0")).is_err());
        assert!(check_compatible(&v("1.0.0")).is_err());
        assert!(
            check_compatible(&v("0.2.9")).is_err(),
            "newer minor features than the host has"
        );
    }
}
