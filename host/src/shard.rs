//! Regressions split into shards: `--shard K/N` of `infer` and `cosim`, `shiftadd merge` of
//! their JSON files into one result (equal to an unsharded run's but for the `run` section), and
//! `shiftadd jobs`, the job list a batch scheduler or GNU parallel runs.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use shiftadd_sim::net::LayerStats;
pub use shiftadd_tb::cosim::Shard;
use std::path::{Path, PathBuf};

/// `--shard K/N`, parsed.
pub fn parse_shard(s: &str) -> Result<Shard> {
    Shard::parse(s).map_err(|e| anyhow!(e))
}

/// What identifies a run's inputs: two shards merge only when these are equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `shiftadd <version>`.
    pub generator: String,
    /// SHA-256 of the model file.
    pub model_sha256: String,
    /// SHA-256 of the images (shape, pixels, labels) after `--limit`.
    pub data_sha256: String,
    /// SHA-256 of the config as JSON.
    pub config_sha256: String,
    /// SHA-256 of the simulated Verilog (file names and contents), for RTL backends.
    pub rtl_sha256: Option<String>,
    /// The `--inject-fault` of the run, if any.
    pub fault: Option<String>,
}

/// The generator's name and version, as provenance records it.
pub fn generator() -> String {
    format!("shiftadd {}", env!("CARGO_PKG_VERSION"))
}

/// Which part of a data set a shard ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// From 1.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
    /// First image (or case) of the shard.
    pub first: usize,
    /// One past its last image.
    pub end: usize,
    /// Images of the whole run (after `--limit`).
    pub dataset_images: usize,
}

/// The first layer that differed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MismatchJson {
    /// Image index in the data set.
    pub image: usize,
    /// Node name.
    pub layer: String,
    /// What differs.
    pub what: String,
}

/// Where the first difference shows in the run that found it (bus cycles count from its
/// instance's power-on, which depends on the batching and the sharding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MismatchAt {
    /// Bus cycle of the first differing output's write, where known.
    pub cycle: Option<u64>,
    /// Waveform of the layer, rerun on a fresh instance.
    pub vcd: Option<String>,
}

/// One node's row of an `infer` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// The reference model's counts, summed over the images.
    #[serde(flatten)]
    pub stats: LayerStats,
    /// `sim::cycles::layer_cycles` (engine layers).
    pub cycles_model: Option<u64>,
    /// The engine's `CYCLES` (the first value seen).
    pub cycles_rtl: Option<u64>,
    /// Runs whose `CYCLES` differed from the first value seen.
    pub cycles_rtl_differing_runs: u64,
    /// Array utilisation of the layer.
    pub utilisation: Option<f64>,
    /// Images whose output agreed with the reference model.
    pub agree: u64,
    /// Values saturated (the engine's `SAT_COUNT`, or the reference's count).
    pub saturated: u64,
}

/// How a run went: the figures that depend on the machine, the batching and the sharding, and
/// so are left out when a merged report is compared with an unsharded one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Wall-clock seconds of inference (summed over shards when merged).
    pub seconds: f64,
    /// Parallel instances (per shard).
    pub instances: usize,
    /// How the host reached the engine's buffers: `bus` or `backdoor` (`null`: no engine).
    pub buffers: Option<String>,
    /// Bus cycles run (RTL backends).
    pub bus_cycles: Option<u64>,
    /// Bus cycles per image.
    pub bus_cycles_per_image: Option<f64>,
    /// Parameter words written.
    pub param_words: Option<u64>,
    /// Bus cycles reading back outputs the host does not need, only to check them.
    pub check_read_cycles: Option<u64>,
    /// The same per image.
    pub check_read_cycles_per_image: Option<f64>,
    /// Where the first difference shows (its bus cycle and waveform).
    pub first_mismatch: Option<MismatchAt>,
    /// The shards merged, in order (empty for a run of its own).
    pub shards: Vec<ShardRun>,
}

/// One merged shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// Its JSON file.
    pub file: String,
    /// Its index.
    pub index: usize,
    /// Its images.
    pub images: usize,
    /// Its seconds.
    pub seconds: f64,
}

/// `infer --json` on an engine backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferReport {
    /// `infer`.
    pub kind: String,
    /// Model file.
    pub model: String,
    /// Architecture.
    pub arch: String,
    /// Images file.
    pub data: String,
    /// `cycle`, `rtl`, `axi` or `uart`.
    pub backend: String,
    /// Config name.
    pub config: String,
    /// What the run read.
    pub provenance: Provenance,
    /// The part of the data this run covered (`null`: all of it).
    pub shard: Option<ShardInfo>,
    /// Images run.
    pub images: usize,
    /// Classified correctly by the backend.
    pub correct: usize,
    /// `correct / images`.
    pub accuracy: f64,
    /// Classified correctly by the reference model.
    pub correct_reference: usize,
    /// Entries of the input table that saturated.
    pub input_saturations: u64,
    /// Images bit-exact in every layer.
    pub agree_images: usize,
    /// Every layer of every image bit-exact, with equal cycles.
    pub bit_exact: bool,
    /// `sim::cycles` per image.
    pub cycles_per_image_model: u64,
    /// `sim::energy` per image.
    pub energy_uj_per_image: f64,
    /// The first layer that differed.
    pub first_mismatch: Option<MismatchJson>,
    /// The program's segments.
    pub schedule: Vec<String>,
    /// Per node.
    pub layers: Vec<LayerRow>,
    /// The backend's class per image, in data-set order from the shard's first image.
    pub predictions: Vec<usize>,
    /// The reference model's class per image.
    pub reference_predictions: Vec<usize>,
    /// Images (data-set indices) with a layer that differed.
    pub mismatched_images: Vec<usize>,
    /// Machine-dependent figures.
    pub run: RunInfo,
}

/// A cosim report's case, as merging needs it: its index and the rest as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CosimCase {
    index: usize,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// SHA-256 of a file's bytes.
pub fn file_sha256(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(shiftadd_sim::rtl::sha256_hex(&bytes))
}

/// Writes `value` as pretty JSON to `out`.
pub fn write_json(out: &Path, value: &impl Serialize) -> Result<()> {
    std::fs::write(out, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("{}: cannot write", out.display()))
}

fn read_doc(f: &Path) -> Result<serde_json::Value> {
    let text = shiftadd_sim::files::read_text(f).map_err(|e| anyhow!(e))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{}: not a JSON file: {e}", f.display()))
}

/// `shiftadd merge`: the shards' JSON files (all of `infer`, or all of `cosim`) as one; refuses
/// shards of different runs, overlapping shards and missing ones. Returns whether the merged
/// run agreed everywhere.
pub fn merge(files: &[PathBuf], out: &Path) -> Result<bool> {
    if files.is_empty() {
        bail!("merge: give the shards' JSON files");
    }
    crate::check_writable(out)?;
    let docs: Vec<serde_json::Value> = files.iter().map(|f| read_doc(f)).collect::<Result<_>>()?;
    let kind = |d: &serde_json::Value| d["kind"].as_str().map(str::to_string);
    let first_kind = kind(&docs[0]);
    for (f, d) in files.iter().zip(&docs) {
        if kind(d) != first_kind {
            bail!(
                "{}: a `{}` report, where {} is `{}`; merge shards of one command",
                f.display(),
                kind(d).unwrap_or_else(|| "?".into()),
                files[0].display(),
                first_kind.clone().unwrap_or_else(|| "?".into())
            );
        }
    }
    match first_kind.as_deref() {
        Some("infer") => merge_infer(files, docs, out),
        Some("cosim") => merge_cosim(files, docs, out),
        _ => bail!(
            "{}: no `kind` of `infer` or `cosim` (write shards with `infer --json` or `cosim --json`; `mutants --merge` adds up mutation runs)",
            files[0].display()
        ),
    }
}

/// Checks that the shards are `1..=N` of one `N`, each once; returns, per shard in order, the
/// index of its file.
fn check_shards(files: &[PathBuf], shards: &[Option<(usize, usize)>]) -> Result<Vec<usize>> {
    let mut count = None;
    // Keyed by index: a file's claimed count allocates nothing.
    let mut seen: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for (i, (f, s)) in files.iter().zip(shards).enumerate() {
        let Some((index, n)) = *s else {
            bail!(
                "{}: not a shard (run with --shard K/N to make one)",
                f.display()
            );
        };
        match count {
            None => count = Some(n),
            Some(c) if c != n => bail!(
                "{}: shard {index} of {n}, where {} is a shard of {c}",
                f.display(),
                files[0].display()
            ),
            _ => {}
        }
        if index == 0 || index > n {
            bail!(
                "{}: shard {index} of {n} is not one of 1..={n}",
                f.display()
            );
        }
        if let Some(prev) = seen.insert(index, i) {
            bail!(
                "{}: shard {index} of {n} is also {}; give each shard once",
                f.display(),
                files[prev].display()
            );
        }
    }
    let n = count.unwrap_or(0);
    if seen.len() < n {
        let first: Vec<String> = (1..=n)
            .filter(|k| !seen.contains_key(k))
            .take(10)
            .map(|k| k.to_string())
            .collect();
        let missing = n - seen.len();
        if missing <= first.len() {
            bail!("shards {} of {n} are missing", first.join(", "));
        }
        bail!(
            "{missing} of the {n} shards are missing (the first: {}, ...)",
            first.join(", ")
        );
    }
    Ok(seen.into_values().collect())
}

fn merge_infer(files: &[PathBuf], docs: Vec<serde_json::Value>, out: &Path) -> Result<bool> {
    let mut reports = Vec::new();
    for (f, d) in files.iter().zip(docs) {
        let r: InferReport = serde_json::from_value(d).map_err(|e| {
            anyhow!(
                "{}: not an `infer --json` report of this version: {e}",
                f.display()
            )
        })?;
        reports.push(r);
    }
    let shards: Vec<Option<(usize, usize)>> = reports
        .iter()
        .map(|r| r.shard.as_ref().map(|s| (s.index, s.count)))
        .collect();
    let order = check_shards(files, &shards)?;
    let by_index = |k: usize| (&files[order[k - 1]], &reports[order[k - 1]]);
    let (f0, r0) = by_index(1);
    // Fields that must be equal in every shard.
    for k in 2..=order.len() {
        let (f, r) = by_index(k);
        let differs = |what: &str, a: String, b: String| -> Result<()> {
            if a != b {
                bail!(
                    "{}: {what} is {b}, where {} has {a}; only shards of one run merge",
                    f.display(),
                    f0.display()
                );
            }
            Ok(())
        };
        differs(
            "the generator",
            r0.provenance.generator.clone(),
            r.provenance.generator.clone(),
        )?;
        differs(
            "the model (SHA-256)",
            r0.provenance.model_sha256.clone(),
            r.provenance.model_sha256.clone(),
        )?;
        differs(
            "the data (SHA-256)",
            r0.provenance.data_sha256.clone(),
            r.provenance.data_sha256.clone(),
        )?;
        differs(
            "the config (SHA-256)",
            r0.provenance.config_sha256.clone(),
            r.provenance.config_sha256.clone(),
        )?;
        differs("the preset", r0.config.clone(), r.config.clone())?;
        differs(
            "the Verilog (SHA-256)",
            format!("{:?}", r0.provenance.rtl_sha256),
            format!("{:?}", r.provenance.rtl_sha256),
        )?;
        differs("the backend", r0.backend.clone(), r.backend.clone())?;
        differs("the architecture", r0.arch.clone(), r.arch.clone())?;
        differs(
            "the injected fault",
            format!("{:?}", r0.provenance.fault),
            format!("{:?}", r.provenance.fault),
        )?;
        let total = |r: &InferReport| r.shard.as_ref().map_or(0, |s| s.dataset_images);
        differs(
            "the data set's size",
            total(r0).to_string(),
            total(r).to_string(),
        )?;
    }
    // The images must tile the data set.
    let total = r0.shard.as_ref().map_or(0, |s| s.dataset_images);
    let mut at = 0;
    for k in 1..=order.len() {
        let (f, r) = by_index(k);
        let s = r.shard.as_ref().expect("checked");
        if s.first != at || s.end < s.first || r.images != s.end - s.first {
            bail!(
                "{}: shard {k} covers images {}..{} ({} run), where the shards before it end at {at}; the shards overlap or leave a gap",
                f.display(),
                s.first,
                s.end,
                r.images
            );
        }
        at = s.end;
    }
    if at != total {
        bail!(
            "the shards cover images 0..{at} of the {total} of the run; the last shard is not the run's"
        );
    }
    let mut m = r0.clone();
    m.shard = None;
    m.images = 0;
    m.correct = 0;
    m.correct_reference = 0;
    m.agree_images = 0;
    m.bit_exact = true;
    m.first_mismatch = None;
    m.predictions.clear();
    m.reference_predictions.clear();
    m.mismatched_images.clear();
    for l in &mut m.layers {
        l.stats = LayerStats {
            name: l.stats.name.clone(),
            kind: l.stats.kind.clone(),
            out_shape: l.stats.out_shape,
            ..Default::default()
        };
        l.cycles_rtl = None;
        l.cycles_rtl_differing_runs = 0;
        l.agree = 0;
        l.saturated = 0;
    }
    let mut run = RunInfo {
        instances: r0.run.instances,
        buffers: r0.run.buffers.clone(),
        ..Default::default()
    };
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    for k in 1..=order.len() {
        let (f, r) = by_index(k);
        m.images += r.images;
        m.correct += r.correct;
        m.correct_reference += r.correct_reference;
        m.agree_images += r.agree_images;
        m.bit_exact &= r.bit_exact;
        if m.first_mismatch.is_none() {
            m.first_mismatch.clone_from(&r.first_mismatch);
            run.first_mismatch.clone_from(&r.run.first_mismatch);
        }
        m.predictions.extend(&r.predictions);
        m.reference_predictions.extend(&r.reference_predictions);
        m.mismatched_images.extend(&r.mismatched_images);
        if r.layers.len() != m.layers.len() {
            bail!(
                "{}: {} layers, where {} has {}",
                f.display(),
                r.layers.len(),
                f0.display(),
                m.layers.len()
            );
        }
        for (t, o) in m.layers.iter_mut().zip(&r.layers) {
            t.stats.accumulate(&o.stats);
            t.agree += o.agree;
            t.saturated += o.saturated;
            t.cycles_rtl_differing_runs += o.cycles_rtl_differing_runs;
            // As the runs of one process merge: a shard whose first value differs counts once.
            match (t.cycles_rtl, o.cycles_rtl) {
                (None, c) => t.cycles_rtl = c,
                (Some(a), Some(b)) if a != b => t.cycles_rtl_differing_runs += 1,
                _ => {}
            }
        }
        run.seconds += r.run.seconds;
        run.bus_cycles = add(run.bus_cycles, r.run.bus_cycles);
        run.param_words = add(run.param_words, r.run.param_words);
        run.check_read_cycles = add(run.check_read_cycles, r.run.check_read_cycles);
        run.shards.push(ShardRun {
            file: f.display().to_string(),
            index: k,
            images: r.images,
            seconds: r.run.seconds,
        });
    }
    let n = m.images.max(1) as f64;
    m.accuracy = m.correct as f64 / n;
    run.bus_cycles_per_image = run.bus_cycles.map(|c| c as f64 / n);
    run.check_read_cycles_per_image = run.check_read_cycles.map(|c| c as f64 / n);
    m.run = run;
    write_json(out, &m)?;
    println!(
        "merged {} shards: {} images, accuracy {}/{} = {:.2}% (reference model {:.2}%), {} images bit-exact in every layer{}; {:.1} s of shard time; {}",
        order.len(),
        m.images,
        m.correct,
        m.images,
        100.0 * m.accuracy,
        100.0 * m.correct_reference as f64 / n,
        m.agree_images,
        if m.bit_exact { "" } else { " (NOT all)" },
        m.run.seconds,
        out.display()
    );
    Ok(m.bit_exact)
}

fn merge_cosim(files: &[PathBuf], docs: Vec<serde_json::Value>, out: &Path) -> Result<bool> {
    let shards: Vec<Option<(usize, usize)>> = docs
        .iter()
        .map(|d| {
            let s = &d["shard"];
            Some((s["index"].as_u64()? as usize, s["count"].as_u64()? as usize))
        })
        .collect();
    let order = check_shards(files, &shards)?;
    let doc_of = |k: usize| (&files[order[k - 1]], &docs[order[k - 1]]);
    let (f0, d0) = doc_of(1);
    for k in 2..=order.len() {
        let (f, d) = doc_of(k);
        for key in [
            "generator",
            "rtl_sha256",
            "config",
            "seed",
            "level",
            "module",
            "total_cases",
        ] {
            if d0[key] != d[key] {
                bail!(
                    "{}: `{key}` is {}, where {} has {}; only shards of one run merge",
                    f.display(),
                    d[key],
                    f0.display(),
                    d0[key]
                );
            }
        }
    }
    let mut cases: Vec<CosimCase> = Vec::new();
    let mut agree = true;
    let mut seconds = 0.0;
    for k in 1..=order.len() {
        let (f, d) = doc_of(k);
        let list: Vec<CosimCase> = serde_json::from_value(d["cases"].clone()).map_err(|e| {
            anyhow!(
                "{}: `cases` is not a list of indexed cases: {e}",
                f.display()
            )
        })?;
        let sh = Shard {
            index: k,
            count: order.len(),
        };
        if let Some(c) = list.iter().find(|c| !sh.takes(c.index)) {
            bail!(
                "{}: case {} is not shard {k}'s (shard K of N runs the cases whose index is K-1 modulo N)",
                f.display(),
                c.index
            );
        }
        agree &= d["agree"].as_bool().unwrap_or(false);
        seconds += d["run"]["seconds"].as_f64().unwrap_or(0.0);
        cases.extend(list);
    }
    cases.sort_by_key(|c| c.index);
    // The first failing case of all, as the unsharded run stops at it.
    let failure = (1..=order.len())
        .map(|k| doc_of(k).1["failure"].clone())
        .filter(|f| !f.is_null())
        .min_by_key(|f| f["case_index"].as_u64().unwrap_or(u64::MAX));
    if let Some(at) = failure.as_ref().and_then(|f| f["case_index"].as_u64()) {
        cases.retain(|c| c.index as u64 <= at);
    }
    let total = d0["total_cases"].as_u64().unwrap_or(0) as usize;
    // A shard that stopped at its first failure lists fewer cases; only a passing run must be
    // whole.
    if agree && (cases.len() != total || cases.iter().enumerate().any(|(i, c)| c.index != i)) {
        bail!(
            "the shards list {} cases, not the run's {total} (indices 0..{total} once each)",
            cases.len()
        );
    }
    let mut m = d0.clone();
    m["shard"] = serde_json::Value::Null;
    m["cases"] = serde_json::to_value(&cases)?;
    m["agree"] = serde_json::Value::Bool(agree);
    m["failure"] = failure.unwrap_or(serde_json::Value::Null);
    m["run"] = serde_json::json!({
        "seconds": seconds,
        "shards": (1..=order.len()).map(|k| serde_json::json!({
            "file": doc_of(k).0.display().to_string(),
            "index": k,
            "cases": doc_of(k).1["cases"].as_array().map_or(0, Vec::len),
            "seconds": doc_of(k).1["run"]["seconds"],
        })).collect::<Vec<_>>(),
    });
    write_json(out, &m)?;
    println!(
        "merged {} shards: {} cases, {}; {}",
        order.len(),
        cases.len(),
        if agree {
            "all agree"
        } else {
            "a case differs from the reference model"
        },
        out.display()
    );
    Ok(agree)
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `shiftadd jobs`: writes `dir/jobs.txt` (one command line per shard, each writing
/// `dir/shard-K.json`) and `dir/merge.txt` (the merge of them into `dir/merged.json`).
pub fn jobs(shards: usize, dir: &Path, exe: Option<&Path>, command: &[String]) -> Result<()> {
    if shards == 0 {
        bail!("--shards 0: give 1 or more");
    }
    match command.first().map(String::as_str) {
        Some("infer") | Some("cosim") => {}
        Some(other) => bail!("`{other}`: only `infer` and `cosim` run in shards"),
        None => {
            bail!("give the command to shard after `--`, for example -- infer --model M --data D")
        }
    }
    for a in &command[1..] {
        let name = a.split('=').next().unwrap_or(a);
        let own = ["--shard", "--json"]
            .iter()
            .chain(if command[0] == "infer" {
                &["--vcd"][..]
            } else {
                &[]
            });
        if own.clone().any(|o| *o == name) {
            bail!(
                "`{a}`: `jobs` gives each shard its own {}; leave them out",
                own.copied().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let exe = match exe {
        Some(e) => e.to_path_buf(),
        None => std::env::current_exe().context("the path of this program")?,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut lines = String::new();
    let mut outs = Vec::new();
    for k in 1..=shards {
        let json = dir.join(format!("shard-{k}.json"));
        let mut words = vec![q(&exe)];
        words.extend(command.iter().map(|a| shell_quote(a)));
        words.push(format!("--shard {k}/{shards}"));
        words.push(format!("--json {}", q(&json)));
        if command[0] == "infer" {
            // A waveform of the shard's first mismatch, where no other shard writes.
            words.push(format!("--vcd {}", q(&dir.join(format!("shard-{k}.vcd")))));
        }
        lines.push_str(&words.join(" "));
        lines.push('\n');
        outs.push(q(&json));
    }
    let merge = format!(
        "{} merge {} --json {}\n",
        q(&exe),
        outs.join(" "),
        q(&dir.join("merged.json"))
    );
    let jobs_file = dir.join("jobs.txt");
    std::fs::write(&jobs_file, &lines)
        .with_context(|| format!("{}: cannot write", jobs_file.display()))?;
    let merge_file = dir.join("merge.txt");
    std::fs::write(&merge_file, &merge)
        .with_context(|| format!("{}: cannot write", merge_file.display()))?;
    println!(
        "{shards} jobs in {}, their merge in {}\nGNU parallel: scripts/cluster/run-parallel.sh {} [JOBS]\nSlurm: scripts/cluster/submit-slurm.sh {} [SBATCH OPTIONS]",
        jobs_file.display(),
        merge_file.display(),
        dir.display(),
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_images_in_whole_batches() {
        for (total, batch, n) in [(1000, 128, 4), (10, 3, 5), (5, 128, 3), (256, 128, 2)] {
            let mut at = 0;
            for index in 1..=n {
                let r = Shard { index, count: n }.images(total, batch);
                assert_eq!(r.start, at, "{total} {batch} {n}");
                assert!(r.start.is_multiple_of(batch) || r.is_empty() || r.start == total);
                at = r.end;
            }
            assert_eq!(at, total);
        }
        // 8 batches of 128 in 4 shards: two batches each.
        assert_eq!(Shard { index: 2, count: 4 }.images(1000, 128), 256..512);
        assert_eq!(Shard { index: 4, count: 4 }.images(1000, 128), 768..1000);
    }

    #[test]
    fn shard_parsing_refuses_bad_values() {
        assert_eq!(parse_shard("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_keeps_words() {
        assert_eq!(shell_quote("models/a.b"), "models/a.b");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
