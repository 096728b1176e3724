//! The drivers against the simulated system: the C driver (`drivers/c`, compiled with
//! `gcc -Wall -Wextra -Werror`) and the Python driver (`drivers/python`) run the default
//! Fashion-MNIST model from its program file (`shiftadd_sim::program_file`) on the committed
//! `seed` `shiftadd_axi`, driven on Verilator through its AXI ports by the HAL in
//! `testbenches/hal`; every node's values of every image equal the reference model's.

use rand::{Rng, SeedableRng};
use shiftadd_sim::model::load_model;
use shiftadd_sim::net::{Model, Value};
use shiftadd_sim::program::compile;
use shiftadd_sim::program_file::encode;
use shiftadd_sim::rtl::AXI_MODULE;
use shiftadd_tb::design::Design;
use shiftadd_tb::verilator::{cache_dir, Model as VlModel};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const IMAGES: usize = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What both drivers run: the model library, its port header, the program, the images.
struct Setup {
    work: PathBuf,
    model_so: PathBuf,
    program: PathBuf,
    images: PathBuf,
    model: Model,
    pixels: Vec<Vec<u8>>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("drivers");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let design = Design::load(&root().join("rtl-out/seed")).unwrap();
        let ports = design.modules[AXI_MODULE].clone();
        let (vl, _) = VlModel::build(
            &design.files,
            design.waivers.as_deref(),
            AXI_MODULE,
            &ports,
            &cache_dir(),
        )
        .unwrap();
        // The port offsets of the model's cycle buffers, for the HAL.
        let l = &vl.layout;
        let mut h = format!(
            "#define AXI_IN_WORDS {}\n#define AXI_OUT_WORDS {}\n",
            l.input_words, l.output_words
        );
        for (p, o) in l.inputs.iter().zip(&l.input_offsets) {
            h += &format!("#define AXI_IN_{} {o}\n", p.name.to_uppercase());
        }
        for (p, o) in l.outputs.iter().zip(&l.output_offsets) {
            h += &format!("#define AXI_OUT_{} {o}\n", p.name.to_uppercase());
        }
        std::fs::write(work.join("axi_ports.h"), h).unwrap();
        let model = load_model(&root().join("models/fmnist-shiftadd")).unwrap();
        let program = compile(&model, &design.cfg).unwrap();
        let runner = model.runner().unwrap();
        let i = model.graph.input;
        let bytes = encode(
            &program,
            runner.input_table(),
            [i.channels, i.height, i.width],
            model.graph.classes,
        );
        std::fs::write(work.join("program.bin"), bytes).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let pixels: Vec<Vec<u8>> = (0..IMAGES)
            .map(|_| {
                (0..i.channels * i.height * i.width)
                    .map(|_| rng.gen())
                    .collect()
            })
            .collect();
        std::fs::write(work.join("images.bin"), pixels.concat()).unwrap();
        Setup {
            model_so: vl.dir.join("model.so"),
            program: work.join("program.bin"),
            images: work.join("images.bin"),
            work,
            model,
            pixels,
        }
    })
}

/// Every node's values of every image (logits kept to 64 bits, as the engine's words), and the
/// predictions, from the reference model.
fn reference(s: &Setup) -> (Vec<Vec<Vec<i64>>>, Vec<u32>) {
    let runner = s.model.runner().unwrap();
    let mut all = Vec::new();
    let mut preds = Vec::new();
    for px in &s.pixels {
        let r = runner.run_image(px, true);
        all.push(
            r.values
                .unwrap()
                .iter()
                .map(|v| match v {
                    Value::Act(t) => t.data.iter().map(|&x| i64::from(x)).collect(),
                    Value::Adder(t) => t.data.clone(),
                    Value::Logits(l) => l
                        .iter()
                        .map(|&x| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
                        .collect(),
                })
                .collect(),
        );
        preds.push(r.prediction as u32);
    }
    (all, preds)
}

/// Reads a driver's output file: per image every node's values, then the predictions.
fn read_outputs(path: &Path, want: &[Vec<Vec<i64>>]) -> (Vec<Vec<Vec<i64>>>, Vec<u32>) {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut next = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s
    };
    let got: Vec<Vec<Vec<i64>>> = want
        .iter()
        .map(|img| {
            img.iter()
                .map(|node| {
                    next(8 * node.len())
                        .chunks(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect()
                })
                .collect()
        })
        .collect();
    let preds = next(4 * want.len())
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (got, preds)
}

fn compare(s: &Setup, out: &Path, who: &str) {
    let (want, want_pred) = reference(s);
    let (got, pred) = read_outputs(out, &want);
    let names: Vec<&str> = s
        .model
        .graph
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        for (n, (gn, wn)) in g.iter().zip(w).enumerate() {
            assert!(gn == wn, "{who}: image {k}, node {}: differs", names[n]);
        }
    }
    assert_eq!(pred, want_pred, "{who}: predictions");
}

#[test]
fn the_c_driver_runs_the_network_on_the_simulated_system() {
    let s = setup();
    let exe = s.work.join("run_network");
    let hal = root().join("testbenches/hal");
    let drv = root().join("drivers/c");
    let out = Command::new("gcc")
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O2",
        ])
        .arg("-I")
        .arg(&drv)
        .arg("-I")
        .arg(&hal)
        .arg("-I")
        .arg(&s.work)
        .arg(drv.join("shiftadd.c"))
        .arg(hal.join("axi_sim.c"))
        .arg(hal.join("run_network.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-ldl")
        .output()
        .expect("gcc runs (apt-get install -y g++)");
    assert!(
        out.status.success(),
        "gcc:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = s.work.join("c-outputs.bin");
    let t = std::time::Instant::now();
    let run = Command::new(&exe)
        .arg(&s.model_so)
        .arg(&s.program)
        .arg(&s.images)
        .arg(IMAGES.to_string())
        .arg(&result)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    eprintln!("C driver: {text} ({:.1} s)", t.elapsed().as_secs_f64());
    assert!(run.status.success(), "C driver:\n{text}");
    assert!(
        text.contains("driver 0,") && text.contains(" 0 protocol errors"),
        "{text}"
    );
    compare(s, &result, "C driver");
}

#[test]
fn the_python_driver_runs_the_network_on_the_simulated_system() {
    let s = setup();
    let py = shiftadd_tb::venv_python().unwrap_or_else(|e| panic!("{e}"));
    let hal = root().join("testbenches/hal");
    // The HAL as a shared library, loaded by the Python test through ctypes.
    let lib = s.work.join("libaxi_sim.so");
    let out = Command::new("gcc")
        .args([
            "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC",
        ])
        .arg("-I")
        .arg(&hal)
        .arg("-I")
        .arg(&s.work)
        .arg(hal.join("axi_sim.c"))
        .arg("-o")
        .arg(&lib)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = s.work.join("py-outputs.bin");
    let t = std::time::Instant::now();
    let run = Command::new(&py)
        .arg(root().join("drivers/python/tests/run_simulated.py"))
        .arg(&lib)
        .arg(&s.model_so)
        .arg(&s.program)
        .arg(&s.images)
        .arg(IMAGES.to_string())
        .arg(&result)
        .env("PYTHONPATH", root().join("drivers/python"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    eprintln!("Python driver: {text} ({:.1} s)", t.elapsed().as_secs_f64());
    assert!(run.status.success(), "Python driver:\n{text}");
    compare(s, &result, "Python driver");
}
