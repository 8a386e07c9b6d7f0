//! `scivid`: a thin entry point. Parsing and commands live in the library;
//! here errors become one line on stderr and a non-zero exit code.

use clap::Parser;

fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_memory();
    let cli = scivid::cli::Cli::parse();
    match scivid::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// glibc's malloc keeps what a step frees for the next one. By default it
/// maps each buffer over 128 KiB afresh and unmaps it when freed, and
/// returns freed memory at the top of the heap, so every forward pass and
/// training step page-faulted its buffers in again, each fault a zeroed
/// page on the thread that the workers wait for: 7,000 faults per ViT-B
/// clip; 172,000 per attention readout step (700 MB of tensors). Now no
/// buffer is mapped on its own (`M_MMAP_MAX` 0: every one comes from the
/// heap and is reused), and up to 1 GiB of freed heap is kept.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets the allocator's thresholds, and runs before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
