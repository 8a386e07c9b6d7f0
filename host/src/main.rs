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

/// glibc's malloc keeps what a forward pass frees for the next one: by
/// default it maps each buffer over 128 KiB afresh and returns freed memory
/// at the top of the heap, so every pass page-faulted its buffers in again
/// (7,000 faults per ViT-B clip, each a zeroed page, on the main thread while
/// the workers wait). Buffers up to 32 MiB now come from the heap, and up to
/// 1 GiB of freed heap is kept; peak memory is unchanged.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only sets the allocator's thresholds, and runs before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
