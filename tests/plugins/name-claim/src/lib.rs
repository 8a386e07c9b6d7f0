//! A stranger's readout that calls itself `linear`, a built-in's name.
hostile_common::hostile_readout!(Claim, "linear", |this, features| {
    hostile_common::pooled_dense(&this.0, features)
});
