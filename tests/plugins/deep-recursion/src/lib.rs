//! Recurses without bound until the Wasm stack runs out.
#[inline(never)]
#[allow(unconditional_recursion)]
fn dive(depth: u64, pad: [u64; 16]) -> u64 {
    let next = std::hint::black_box([pad[0] + depth; 16]);
    dive(depth + 1, next) + next[depth as usize % 16]
}

hostile_common::hostile_readout!(Dive, "deep-recursion", |this, features| {
    std::hint::black_box(dive(0, [0; 16]));
    hostile_common::pooled_dense(&this.0, features)
});
