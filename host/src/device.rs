//! Where backbones run: [`ComputeDevice`], chosen with `--device
//! cpu|cuda[:N]|wgpu`. The CPU (burn's flex backend) is the default and the
//! only device of a default build; the GPU backends come with the `cuda`
//! and `wgpu` cargo features (`cargo build --release --features cuda`).
//! Readout heads train on host tensors on the CPU either way: they are
//! small, and their features come from the cache.

use anyhow::{Result, bail};
use burn::tensor::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComputeDevice {
    #[default]
    Cpu,
    /// A CUDA device by index.
    Cuda(usize),
    /// wgpu's best adapter (Vulkan, Metal, DX12).
    Wgpu,
}

impl std::str::FromStr for ComputeDevice {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "cpu" => ComputeDevice::Cpu,
            "cuda" => ComputeDevice::Cuda(0),
            "wgpu" => ComputeDevice::Wgpu,
            other => match other.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(i)) => ComputeDevice::Cuda(i),
                _ => bail!("unknown device `{other}` (expected cpu, cuda, cuda:N or wgpu)"),
            },
        })
    }
}

impl std::fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeDevice::Cpu => write!(f, "cpu"),
            ComputeDevice::Cuda(i) => write!(f, "cuda:{i}"),
            ComputeDevice::Wgpu => write!(f, "wgpu"),
        }
    }
}

impl ComputeDevice {
    /// The burn device, or why this build cannot use it.
    pub fn burn(self) -> Result<Device> {
        match self {
            ComputeDevice::Cpu => Ok(Device::flex()),
            ComputeDevice::Cuda(i) => cuda(i),
            ComputeDevice::Wgpu => wgpu(),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Device> {
    bail!(
        "this scivid was built without CUDA: rebuild with `cargo build --release --features cuda`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!(
        "this scivid was built without wgpu: rebuild with `cargo build --release --features wgpu`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_what_the_build_lacks() {
        assert_eq!("cpu".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cpu);
        assert_eq!(
            "cuda:2".parse::<ComputeDevice>().unwrap(),
            ComputeDevice::Cuda(2)
        );
        assert_eq!(ComputeDevice::Cuda(2).to_string(), "cuda:2");
        assert!("tpu".parse::<ComputeDevice>().is_err());
        assert!(ComputeDevice::Cpu.burn().is_ok());
        if !cfg!(feature = "cuda") {
            let e = ComputeDevice::Cuda(0).burn().unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
