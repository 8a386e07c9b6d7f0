//! Host tensor ops: a finite-difference gradient check for every op that
//! takes tensors, forward values against independent f64 computations, and
//! shape validation that returns errors instead of panicking.

use scivid::tensor::ops::{BinaryOp, UnaryOp};
use scivid::tensor::{DynTensor, Ops, Padding, default_device};

fn ops() -> Ops {
    Ops::new(default_device(), 1 << 24)
}

/// Deterministic values in ±[lo, hi] (away from kinks at 0).
fn values(n: usize, seed: u32, lo: f32, hi: f32, signed: bool) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503))
                % 1000;
            let v = lo + (hi - lo) * h as f32 / 1000.0;
            if signed && (i + seed as usize) % 2 == 1 {
                -v
            } else {
                v
            }
        })
        .collect()
}

fn t(data: Vec<f32>, shape: &[usize]) -> DynTensor {
    DynTensor::from_vec(data, shape, &default_device()).unwrap()
}

fn rand_t(shape: &[usize], seed: u32) -> DynTensor {
    t(values(shape.iter().product(), seed, 0.2, 1.0, true), shape)
}

fn pos_t(shape: &[usize], seed: u32) -> DynTensor {
    t(values(shape.iter().product(), seed, 0.3, 1.5, false), shape)
}

/// Scalar loss sum(f(x) * w) with fixed weights w, so every output element
/// matters with a different weight.
fn loss(o: &Ops, out: &DynTensor) -> DynTensor {
    let n: usize = out.shape().iter().product();
    let w = t(values(n, 99, 0.1, 1.0, true), out.shape());
    let prod = o.binary(BinaryOp::Mul, out, &w).unwrap();
    let axes: Vec<u32> = (0..prod.rank() as u32).collect();
    o.sum(&prod, &axes, false).unwrap()
}

/// Compare autodiff gradients with central differences for each input.
fn gradcheck(name: &str, inputs: Vec<DynTensor>, f: impl Fn(&Ops, &[DynTensor]) -> DynTensor) {
    let o = ops();
    let tracked: Vec<DynTensor> = inputs.iter().map(|x| x.clone().require_grad()).collect();
    let l = loss(&o, &f(&o, &tracked));
    let grads = l.backward();
    let eps = 1e-2f32;
    for (i, x) in inputs.iter().enumerate() {
        let g = tracked[i]
            .grad(&grads)
            .unwrap_or_else(|| panic!("{name}: input {i} got no gradient"))
            .to_vec();
        let base = x.to_vec();
        for j in 0..base.len() {
            let eval = |delta: f32| {
                let mut v = base.clone();
                v[j] += delta;
                let mut xs = inputs.clone();
                xs[i] = t(v, x.shape());
                loss(&o, &f(&o, &xs)).to_vec()[0] as f64
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps as f64);
            let analytic = g[j] as f64;
            let tol = 2e-2 * numeric.abs().max(1.0);
            assert!(
                (numeric - analytic).abs() <= tol,
                "{name}: d/d input{i}[{j}]: autodiff {analytic} vs finite difference {numeric}"
            );
        }
    }
}

#[test]
fn gradients_of_binary_ops_with_broadcasting() {
    for (name, op) in [
        ("add", BinaryOp::Add),
        ("sub", BinaryOp::Sub),
        ("mul", BinaryOp::Mul),
    ] {
        gradcheck(name, vec![rand_t(&[2, 3], 1), rand_t(&[3], 2)], |o, x| {
            o.binary(op, &x[0], &x[1]).unwrap()
        });
    }
    gradcheck(
        "div",
        vec![rand_t(&[2, 1, 3], 3), pos_t(&[4, 1], 4)],
        |o, x| o.binary(BinaryOp::Div, &x[0], &x[1]).unwrap(),
    );
    gradcheck("add-scalar", vec![rand_t(&[4], 5)], |o, x| {
        o.add_scalar(&x[0], 0.7)
    });
    gradcheck("mul-scalar", vec![rand_t(&[4], 6)], |o, x| {
        o.mul_scalar(&x[0], -1.3)
    });
}

#[test]
fn gradients_of_unary_ops() {
    for (name, op) in [
        ("neg", UnaryOp::Neg),
        ("exp", UnaryOp::Exp),
        ("abs", UnaryOp::Abs),
        ("tanh", UnaryOp::Tanh),
        ("sigmoid", UnaryOp::Sigmoid),
        ("relu", UnaryOp::Relu),
        ("gelu", UnaryOp::Gelu),
        ("sin", UnaryOp::Sin),
        ("cos", UnaryOp::Cos),
    ] {
        gradcheck(name, vec![rand_t(&[2, 3], 7)], |o, x| o.unary(op, &x[0]));
    }
    for (name, op) in [("log", UnaryOp::Log), ("sqrt", UnaryOp::Sqrt)] {
        gradcheck(name, vec![pos_t(&[5], 8)], |o, x| o.unary(op, &x[0]));
    }
}

#[test]
fn gradients_of_matmul_and_shape_ops() {
    gradcheck(
        "matmul",
        vec![rand_t(&[2, 2, 3], 9), rand_t(&[3, 2], 10)],
        |o, x| o.matmul(&x[0], &x[1]).unwrap(),
    );
    gradcheck("reshape", vec![rand_t(&[2, 3], 11)], |o, x| {
        o.reshape(&x[0], &[3, -1]).unwrap()
    });
    gradcheck("permute", vec![rand_t(&[2, 3, 2], 12)], |o, x| {
        o.permute(&x[0], &[2, 0, 1]).unwrap()
    });
    gradcheck("slice", vec![rand_t(&[4, 3], 13)], |o, x| {
        o.slice(&x[0], 0, 1, 3).unwrap()
    });
    gradcheck("expand", vec![rand_t(&[3, 1], 14)], |o, x| {
        o.expand(&x[0], &[2, 3, 4]).unwrap()
    });
    gradcheck(
        "concat",
        vec![rand_t(&[2, 2], 15), rand_t(&[2, 3], 16)],
        |o, x| o.concat(&[&x[0], &x[1]], 1).unwrap(),
    );
    gradcheck("sum", vec![rand_t(&[2, 3, 2], 17)], |o, x| {
        o.sum(&x[0], &[0, 2], false).unwrap()
    });
    gradcheck("mean", vec![rand_t(&[2, 3, 2], 18)], |o, x| {
        o.mean(&x[0], &[1], true).unwrap()
    });
}

#[test]
fn gradients_of_layers_and_losses() {
    gradcheck("softmax", vec![rand_t(&[2, 4], 19)], |o, x| {
        o.softmax(&x[0], 1).unwrap()
    });
    gradcheck("log-softmax", vec![rand_t(&[3, 2], 20)], |o, x| {
        o.log_softmax(&x[0], 0).unwrap()
    });
    gradcheck(
        "layer-norm",
        vec![rand_t(&[2, 4], 21), rand_t(&[4], 22), rand_t(&[4], 23)],
        |o, x| o.layer_norm(&x[0], Some(&x[1]), Some(&x[2]), 1e-5).unwrap(),
    );
    let probs = t(vec![0.2, 0.8, 0.0, 0.5, 0.25, 0.25], &[2, 3]);
    gradcheck(
        "softmax-cross-entropy",
        vec![rand_t(&[2, 3], 24)],
        move |o, x| o.softmax_cross_entropy(&x[0], &probs).unwrap(),
    );
    let labels = t(vec![1.0, 0.0, 0.3, 1.0], &[4]);
    gradcheck("sigmoid-bce", vec![rand_t(&[4], 25)], move |o, x| {
        o.sigmoid_bce(&x[0], &labels).unwrap()
    });
    // Differences on both sides of delta = 0.5 (none at the kink).
    let far = t(vec![0.1, -0.3, 1.2, -0.9, 0.45, 2.0], &[6]);
    gradcheck("huber", vec![t(vec![0.0; 6], &[6]), far.clone()], |o, x| {
        o.huber(&x[0], &x[1], 0.5).unwrap()
    });
    gradcheck("mse", vec![rand_t(&[3], 26), rand_t(&[3], 27)], |o, x| {
        o.mse(&x[0], &x[1]).unwrap()
    });
}

fn close(a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (*x as f64 - y).abs() <= tol * y.abs().max(1.0),
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn forward_values_match_independent_f64_computations() {
    let o = ops();
    let (a, b) = (rand_t(&[2, 3], 30), rand_t(&[3, 2], 31));
    let (av, bv) = (a.to_vec(), b.to_vec());
    let mut mm = vec![0f64; 4];
    for i in 0..2 {
        for j in 0..2 {
            mm[i * 2 + j] = (0..3)
                .map(|k| av[i * 3 + k] as f64 * bv[k * 2 + j] as f64)
                .sum();
        }
    }
    close(&o.matmul(&a, &b).unwrap().to_vec(), &mm, 1e-6);

    let angles = t(values(64, 33, -20.0, 20.0, true), &[8, 8]);
    let av: Vec<f64> = angles.to_vec().iter().map(|&v| v as f64).collect();
    let sin: Vec<f64> = av.iter().map(|v| v.sin()).collect();
    let cos: Vec<f64> = av.iter().map(|v| v.cos()).collect();
    close(&o.unary(UnaryOp::Sin, &angles).to_vec(), &sin, 1e-6);
    close(&o.unary(UnaryOp::Cos, &angles).to_vec(), &cos, 1e-6);

    let x = rand_t(&[2, 3], 32);
    let xv: Vec<f64> = x.to_vec().iter().map(|&v| v as f64).collect();
    let softmax: Vec<f64> = xv
        .chunks(3)
        .flat_map(|r| {
            let m = r.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter().map(move |v| (v - m).exp() / z).collect::<Vec<_>>()
        })
        .collect();
    close(&o.softmax(&x, 1).unwrap().to_vec(), &softmax, 1e-6);

    let ln: Vec<f64> = xv
        .chunks(3)
        .flat_map(|r| {
            let mean = r.iter().sum::<f64>() / 3.0;
            let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
            r.iter()
                .map(move |v| (v - mean) / (var + 1e-5).sqrt())
                .collect::<Vec<_>>()
        })
        .collect();
    close(
        &o.layer_norm(&x, None, None, 1e-5).unwrap().to_vec(),
        &ln,
        1e-5,
    );

    // Exact GELU: x * Phi(x); Phi via the Abramowitz-Stegun erf (|error| < 1.5e-7).
    let erf = |z: f64| {
        let s = z.signum();
        let z = z.abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * z);
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736)
                * t
                + 0.254_829_592)
                * t
                * (-z * z).exp();
        s * y
    };
    let gelu: Vec<f64> = xv
        .iter()
        .map(|v| v * 0.5 * (1.0 + erf(v / 2f64.sqrt())))
        .collect();
    close(&o.unary(UnaryOp::Gelu, &x).to_vec(), &gelu, 1e-5);

    let targets = t(vec![1.0, 0.0, 0.0, 0.0, 0.5, 0.5], &[2, 3]);
    let tv = targets.to_vec();
    let ce: f64 = (0..2)
        .map(|r| {
            let row = &xv[r * 3..r * 3 + 3];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            -(0..3)
                .map(|k| tv[r * 3 + k] as f64 * (row[k] - lse))
                .sum::<f64>()
        })
        .sum::<f64>()
        / 2.0;
    close(
        &o.softmax_cross_entropy(&x, &targets).unwrap().to_vec(),
        &[ce],
        1e-6,
    );

    let bce: f64 = xv
        .iter()
        .zip(&tv)
        .map(|(z, &y)| {
            let p = 1.0 / (1.0 + (-z).exp());
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / 6.0;
    close(&o.sigmoid_bce(&x, &targets).unwrap().to_vec(), &[bce], 1e-6);
}

#[test]
fn huber_matches_its_definition() {
    let o = ops();
    let (p, q) = (rand_t(&[2, 5], 50), rand_t(&[2, 5], 51));
    let (pv, qv) = (p.to_vec(), q.to_vec());
    let delta = 0.4f64;
    let want: f64 = pv
        .iter()
        .zip(&qv)
        .map(|(a, b)| {
            let d = (*a as f64 - *b as f64).abs();
            if d <= delta {
                0.5 * d * d
            } else {
                delta * (d - 0.5 * delta)
            }
        })
        .sum::<f64>()
        / 10.0;
    close(&o.huber(&p, &q, 0.4).unwrap().to_vec(), &[want], 1e-6);
    assert!(o.huber(&p, &q, 0.0).is_err());
    assert!(o.huber(&p, &rand_t(&[5], 1), 0.4).is_err());
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let o = ops();
    let (a, b) = (rand_t(&[2, 3], 1), rand_t(&[4, 5], 2));
    let e = o.matmul(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains("tensor.matmul") && e.contains("[2, 3]") && e.contains("[4, 5]"),
        "{e}"
    );
    assert!(
        o.binary(BinaryOp::Add, &a, &b)
            .unwrap_err()
            .to_string()
            .contains("do not broadcast")
    );
    assert!(o.reshape(&a, &[4, -1]).is_err());
    assert!(o.reshape(&a, &[-1, -1]).is_err());
    assert!(o.permute(&a, &[0, 0]).is_err());
    assert!(o.slice(&a, 1, 2, 9).is_err());
    assert!(o.slice(&a, 5, 0, 1).is_err());
    assert!(o.sum(&a, &[0, 0], false).is_err());
    assert!(o.softmax(&a, 2).is_err());
    assert!(
        o.layer_norm(&a, Some(&rand_t(&[2], 3)), None, 1e-5)
            .is_err()
    );
    assert!(o.softmax_cross_entropy(&a, &b).is_err());
    assert!(o.from_data(vec![1.0; 5], &[2, 3]).is_err());
    assert!(
        o.from_data(vec![], &[1, 1, 1, 1, 1, 1, 1]).is_err(),
        "rank 7 is refused"
    );
    // A result too large for the budget is refused before anything is allocated.
    let big = Ops::new(default_device(), 1000);
    let e = big.full(&[1_000_000, 1_000_000], 0.0).unwrap_err();
    assert!(e.over_budget, "{e}");
    let col = rand_t(&[100, 1], 4);
    let row = rand_t(&[1, 100], 5);
    assert!(
        big.binary(BinaryOp::Mul, &col, &row)
            .unwrap_err()
            .over_budget
    );
}

#[test]
fn dropout_is_seeded_scales_kept_values_and_has_the_masked_gradient() {
    use rand::SeedableRng;
    let o = ops();
    let x = t(vec![1.0; 10_000], &[100, 100]);
    let y = o
        .dropout(&x, 0.3, &mut rand::rngs::StdRng::seed_from_u64(1))
        .unwrap()
        .to_vec();
    let zeros = y.iter().filter(|v| **v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped fraction {zeros}");
    assert!(y.iter().all(|v| *v == 0.0 || (*v - 1.0 / 0.7).abs() < 1e-6));
    let again = o
        .dropout(&x, 0.3, &mut rand::rngs::StdRng::seed_from_u64(1))
        .unwrap()
        .to_vec();
    assert_eq!(y, again, "same seed, same mask");
    assert!(
        o.dropout(&x, 1.0, &mut rand::rngs::StdRng::seed_from_u64(1))
            .is_err()
    );
    gradcheck("dropout", vec![rand_t(&[3, 4], 40)], |o, x| {
        o.dropout(&x[0], 0.5, &mut rand::rngs::StdRng::seed_from_u64(9))
            .unwrap()
    });
}

/// Load `tests/fixtures/spatial-ops/NAME.npy`.
fn spatial_fixture(name: &str) -> DynTensor {
    let path = crate::common::repo_root().join(format!("tests/fixtures/spatial-ops/{name}.npy"));
    let a = scivid::data::npy::read(&path).unwrap();
    t(a.as_f32(), &a.shape)
}

fn padding(name: &str) -> Padding {
    match name {
        "same" => Padding::Same,
        "valid" => Padding::Valid,
        other => panic!("padding {other}"),
    }
}

/// conv2d, conv-transpose2d and resize-bilinear against JAX's own ops
/// (`tests/fixtures/spatial_ops_reference.py`: lax.conv_general_dilated,
/// lax.conv_transpose, jax.image.resize in float64).
#[test]
fn image_ops_match_jax() {
    let o = ops();
    let dir = crate::common::repo_root().join("tests/fixtures/spatial-ops");
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = spatial_fixture(&format!("{name}.x"));
        let pair = |key: &str| {
            let v = case[key].as_array().unwrap();
            (v[0].as_u64().unwrap() as u32, v[1].as_u64().unwrap() as u32)
        };
        let got = match case["op"].as_str().unwrap() {
            "resize-bilinear" => {
                let (h, w) = pair("size");
                o.resize_bilinear(&x, h, w)
            }
            op => {
                let k = spatial_fixture(&format!("{name}.kernel"));
                let (s, p) = (pair("stride"), padding(case["padding"].as_str().unwrap()));
                if op == "conv2d" {
                    o.conv2d(&x, &k, s, p)
                } else {
                    o.conv_transpose2d(&x, &k, s, p)
                }
            }
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = spatial_fixture(&format!("{name}.expected"));
        assert_eq!(got.shape(), want.shape(), "{name}");
        let want: Vec<f64> = want.to_vec().iter().map(|&v| v as f64).collect();
        close(&got.to_vec(), &want, 1e-5);
    }
}

#[test]
fn gradients_of_image_ops() {
    for (s, p) in [
        ((1, 1), Padding::Same),
        ((2, 2), Padding::Same),
        ((2, 1), Padding::Valid),
    ] {
        gradcheck(
            "conv2d",
            vec![rand_t(&[1, 5, 4, 2], 40), rand_t(&[3, 2, 2, 3], 41)],
            |o, x| o.conv2d(&x[0], &x[1], s, p).unwrap(),
        );
    }
    for (s, p) in [
        ((2, 2), Padding::Same),
        ((4, 3), Padding::Same),
        ((2, 2), Padding::Valid),
    ] {
        gradcheck(
            "conv-transpose2d",
            vec![rand_t(&[1, 2, 3, 2], 42), rand_t(&[3, 3, 2, 2], 43)],
            |o, x| o.conv_transpose2d(&x[0], &x[1], s, p).unwrap(),
        );
    }
    for (h, w) in [(7, 5), (2, 3), (3, 9)] {
        gradcheck(
            "resize-bilinear",
            vec![rand_t(&[2, 4, 5, 2], 44)],
            |o, x| o.resize_bilinear(&x[0], h, w).unwrap(),
        );
    }
}

#[test]
fn image_ops_refuse_bad_shapes() {
    let o = ops();
    let x = rand_t(&[1, 4, 4, 3], 50);
    let e = o
        .conv2d(&x, &rand_t(&[3, 3, 2, 4], 51), (1, 1), Padding::Same)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tensor.conv2d") && e.contains("3 channels"),
        "{e}"
    );
    let e = o
        .conv2d(
            &rand_t(&[4, 4, 3], 52),
            &rand_t(&[3, 3, 3, 4], 51),
            (1, 1),
            Padding::Same,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("[B, H, W, C]"), "{e}");
    let e = o
        .conv2d(&x, &rand_t(&[5, 5, 3, 1], 53), (1, 1), Padding::Valid)
        .unwrap_err()
        .to_string();
    assert!(e.contains("valid"), "{e}");
    assert!(
        o.conv2d(&x, &rand_t(&[3, 3, 3, 1], 53), (0, 1), Padding::Same)
            .is_err()
    );
    assert!(
        o.conv_transpose2d(&x, &rand_t(&[3, 3, 3, 1], 53), (65, 1), Padding::Same)
            .is_err()
    );
    assert!(o.resize_bilinear(&x, 0, 3).is_err());
    assert!(o.resize_bilinear(&rand_t(&[4, 4], 54), 2, 2).is_err());
    // The result is checked against the budget before anything runs.
    let small = Ops::new(default_device(), 1000);
    assert!(small.resize_bilinear(&x, 100, 100).unwrap_err().over_budget);
    assert!(
        small
            .conv_transpose2d(&x, &rand_t(&[3, 3, 3, 8], 55), (8, 8), Padding::Same)
            .unwrap_err()
            .over_budget
    );
}
