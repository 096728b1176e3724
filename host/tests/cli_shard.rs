//! Sharded regressions: `infer --shard` and `cosim --shard` run from `shiftadd jobs`' job list
//! through GNU parallel and through a one-node Slurm cluster started for the test, merged with
//! `shiftadd merge` and compared with unsharded runs; the buffers' backdoor against the bus;
//! merge's refusals.

mod common;

use common::{fails, ok, root, shiftadd, tmp};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A report without its `run` section (the machine-dependent figures).
fn result_of(p: &Path) -> Value {
    let mut v = json(p);
    v.as_object_mut().unwrap().remove("run");
    v
}

fn fresh(name: &str) -> PathBuf {
    let d = tmp(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `infer` run the sharded runs split: 96 images of the committed subset on the `seed`
/// engine, batches of 16, buffers through the backdoor.
const INFER: [&str; 7] = [
    "infer",
    "--limit",
    "96",
    "--batch",
    "16",
    "--buffers",
    "backdoor",
];

fn run_script(script: &str, args: &[&str]) -> String {
    let o = Command::new("bash")
        .arg(root().join("scripts/cluster").join(script))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run bash");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{script} {args:?} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Through the backdoor and through the bus, the same images give the same report but for the
/// bus cycles; the backdoor leaves only the engine's cycles and the register accesses.
#[test]
fn the_backdoor_gives_the_bus_results() {
    let (bus, back) = (tmp("shard-bus.json"), tmp("shard-backdoor.json"));
    ok(&["infer", "--limit", "24", "--json", bus.to_str().unwrap()]);
    ok(&[
        "infer",
        "--limit",
        "24",
        "--buffers",
        "backdoor",
        "--json",
        back.to_str().unwrap(),
    ]);
    let (b, d) = (result_of(&bus), result_of(&back));
    assert_eq!(b["bit_exact"], true);
    assert_eq!(b, d);
    let (rb, rd) = (json(&bus)["run"].clone(), json(&back)["run"].clone());
    assert_eq!(rb["buffers"], "bus");
    assert_eq!(rd["buffers"], "backdoor");
    let engine = b["cycles_per_image_model"].as_f64().unwrap();
    let per = |r: &Value| r["bus_cycles_per_image"].as_f64().unwrap();
    assert!(per(&rb) > 2.0 * engine, "{rb}");
    assert!(per(&rd) > engine && per(&rd) < 1.05 * engine, "{rd}");
    assert_eq!(rd["check_read_cycles"], 0);
    // A fault injected through the backdoor is caught like one through the bus.
    let o = shiftadd(&[
        "infer",
        "--limit",
        "2",
        "--buffers",
        "backdoor",
        "--inject-fault",
        "conv2.1:1:37:3",
        "--vcd",
        tmp("shard-fault.vcd").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("MISMATCH: image 1, layer `conv2.1`"),
        "{text}"
    );
    let err = fails(&["infer", "--backend", "axi", "--buffers", "backdoor"]);
    assert!(
        err.contains("--buffers backdoor needs --backend rtl"),
        "{err}"
    );
}

/// Three shards of an `infer` run through GNU parallel, merged: equal to the unsharded run.
#[test]
fn infer_shards_through_gnu_parallel_merge_to_the_unsharded_run() {
    let whole = tmp("shard-infer-whole.json");
    let mut args: Vec<&str> = INFER.to_vec();
    args.extend(["--json", whole.to_str().unwrap()]);
    ok(&args);
    let dir = fresh("shard-parallel");
    let mut jobs = vec![
        "jobs",
        "--shards",
        "3",
        "--dir",
        dir.to_str().unwrap(),
        "--",
    ];
    jobs.extend(INFER);
    jobs.extend(["--threads", "1"]);
    ok(&jobs);
    let lines = std::fs::read_to_string(dir.join("jobs.txt")).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(lines.lines().all(|l| l.contains("--shard ")), "{lines}");
    run_script("run-parallel.sh", &[dir.to_str().unwrap(), "2"]);
    let merged = dir.join("merged.json");
    assert_eq!(result_of(&merged), result_of(&whole));
    let m = json(&merged);
    assert_eq!(m["images"], 96);
    let shards = m["run"]["shards"].as_array().unwrap();
    // 6 batches of 16 in 3 shards: 32 images each.
    assert!(shards.iter().all(|s| s["images"] == 32), "{shards:?}");
}

/// A shard that finds a mismatch exits 1 but writes its report; the merge still runs and gives
/// the unsharded run's report, the mismatch included.
#[test]
fn a_mismatching_shard_is_merged_and_fails_the_run() {
    let fault = [
        "--limit",
        "32",
        "--batch",
        "8",
        "--inject-fault",
        "conv2.1:20:37:3",
    ];
    let (whole, wave) = (tmp("shard-fault-whole.json"), tmp("shard-fault-whole.vcd"));
    let mut args = vec!["infer", "--buffers", "backdoor"];
    args.extend(fault);
    args.extend(["--vcd", wave.to_str().unwrap()]);
    args.extend(["--json", whole.to_str().unwrap()]);
    assert_eq!(shiftadd(&args).status.code(), Some(1));
    let dir = fresh("shard-fault");
    let mut jobs = vec![
        "jobs",
        "--shards",
        "2",
        "--dir",
        dir.to_str().unwrap(),
        "--",
    ];
    jobs.extend(["infer", "--buffers", "backdoor", "--threads", "1"]);
    jobs.extend(fault);
    ok(&jobs);
    let o = Command::new("bash")
        .arg(root().join("scripts/cluster/run-parallel.sh"))
        .args([dir.to_str().unwrap(), "2"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!o.status.success(), "a mismatching shard must fail the run");
    let merged = dir.join("merged.json");
    assert_eq!(result_of(&merged), result_of(&whole));
    let m = json(&merged);
    assert_eq!(m["bit_exact"], false);
    assert_eq!(m["first_mismatch"]["image"], 20);
    assert_eq!(m["mismatched_images"], serde_json::json!([20]));
    // The shard's waveform is its own.
    assert!(dir.join("shard-2.vcd").is_file());
    assert!(!dir.join("shard-1.vcd").exists());
}

/// Two shards of an `infer` run and two of the engine's layer co-simulation as Slurm array jobs
/// on a one-node cluster started for the test, each merged by a job depending on its array:
/// equal to the unsharded runs.
#[test]
fn shards_on_a_local_slurm_cluster_merge_to_the_unsharded_runs() {
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .arg(root().join("scripts/cluster/local-slurm.sh"))
                .args(["stop", &self.0])
                .status();
        }
    }
    // Daemons an interrupted earlier run left are stopped before their folder goes.
    drop(Stop(tmp("slurm").to_str().unwrap().to_string()));
    let cluster = std::fs::canonicalize(fresh("slurm")).unwrap();
    let cluster_dir = cluster.to_str().unwrap().to_string();
    let _stop = Stop(cluster_dir.clone());
    let started = run_script("local-slurm.sh", &["start", &cluster_dir]);
    let conf = cluster.join("slurm.conf");
    assert!(started.contains(&conf.display().to_string()), "{started}");

    let whole_infer = tmp("slurm-infer-whole.json");
    let mut args: Vec<&str> = INFER.to_vec();
    args.extend(["--json", whole_infer.to_str().unwrap()]);
    ok(&args);
    let cosim: [&str; 7] = [
        "cosim", "--preset", "lean8", "--level", "layer", "--cases", "10",
    ];
    let whole_cosim = tmp("slurm-cosim-whole.json");
    let mut args: Vec<&str> = cosim.to_vec();
    args.extend(["--json", whole_cosim.to_str().unwrap()]);
    ok(&args);

    let mut pending = Vec::new();
    for (name, command) in [("slurm-infer", &INFER[..]), ("slurm-cosim", &cosim[..])] {
        let dir = fresh(name);
        let mut jobs = vec![
            "jobs",
            "--shards",
            "2",
            "--dir",
            dir.to_str().unwrap(),
            "--",
        ];
        jobs.extend(command);
        ok(&jobs);
        let o = Command::new("bash")
            .arg(root().join("scripts/cluster/submit-slurm.sh"))
            .arg(&dir)
            .env("SLURM_CONF", &conf)
            .current_dir(root())
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "submit-slurm.sh: {ids}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        pending.push((
            dir,
            ids.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ));
    }
    // Until no job of either run is queued or running.
    let t = Instant::now();
    loop {
        let ids: Vec<String> = pending.iter().flat_map(|(_, i)| i.clone()).collect();
        let q = Command::new("squeue")
            .args(["-h", "-o", "%i %T", "-j", &ids.join(",")])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&q.stdout).into_owned();
        if text.trim().is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "Slurm jobs still queued after 15 minutes: {text}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    for ((dir, _), whole) in pending.iter().zip([&whole_infer, &whole_cosim]) {
        let merged = dir.join("merged.json");
        let logs: String = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "out"))
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        assert!(
            merged.is_file(),
            "no merged result in {}: {logs}",
            dir.display()
        );
        assert_eq!(result_of(&merged), result_of(whole), "{logs}");
        assert_eq!(json(&merged)["run"]["shards"].as_array().unwrap().len(), 2);
    }
}

/// `merge` refuses missing, repeated and foreign shards, naming the file and what differs.
#[test]
fn merge_refuses_shards_that_do_not_make_one_run() {
    let dir = fresh("shard-refusals");
    let shard = |k: usize, extra: &[&str]| -> PathBuf {
        let out = dir.join(format!("s{k}{}.json", extra.len()));
        let mut args = vec![
            "infer",
            "--backend",
            "cycle",
            "--limit",
            "40",
            "--batch",
            "10",
        ];
        let s = format!("{k}/3");
        args.extend(["--shard", &s, "--json", out.to_str().unwrap()]);
        args.extend(extra);
        ok(&args);
        out
    };
    let (s1, s2, s3) = (shard(1, &[]), shard(2, &[]), shard(3, &[]));
    let out = dir.join("merged.json");
    let o = out.to_str().unwrap();
    let p = |x: &PathBuf| x.to_str().unwrap().to_string();
    let merged = ok(&["merge", &p(&s1), &p(&s2), &p(&s3), "--json", o]);
    assert!(merged.contains("merged 3 shards: 40 images"), "{merged}");

    let err = fails(&["merge", &p(&s1), &p(&s3), "--json", o]);
    assert!(err.contains("shards 2 of 3 are missing"), "{err}");
    let err = fails(&["merge", &p(&s1), &p(&s2), &p(&s2), &p(&s3), "--json", o]);
    assert!(err.contains("shard 2 of 3 is also"), "{err}");
    // Another model's shard.
    let other = dir.join("s2-other.json");
    ok(&[
        "infer",
        "--backend",
        "cycle",
        "--arch",
        "lenet-shiftadd",
        "--limit",
        "40",
        "--batch",
        "10",
        "--shard",
        "2/3",
        "--json",
        other.to_str().unwrap(),
    ]);
    let err = fails(&["merge", &p(&s1), &p(&other), &p(&s3), "--json", o]);
    assert!(
        err.contains("s2-other.json: the model (SHA-256) is"),
        "{err}"
    );
    // Another data set, another generator, shards of another count.
    let s2_data = shard(2, &["--data", "random"]);
    let err = fails(&["merge", &p(&s1), &p(&s2_data), &p(&s3), "--json", o]);
    assert!(err.contains("the data (SHA-256) is"), "{err}");
    let mut doc = json(&s2);
    doc["provenance"]["generator"] = "shiftadd 0.0.1".into();
    let old = dir.join("s2-old.json");
    std::fs::write(&old, doc.to_string()).unwrap();
    let err = fails(&["merge", &p(&s1), &p(&old), &p(&s3), "--json", o]);
    assert!(err.contains("the generator is shiftadd 0.0.1"), "{err}");
    let mut doc = json(&s2);
    doc["shard"]["first"] = 0.into();
    let overlap = dir.join("s2-overlap.json");
    std::fs::write(&overlap, doc.to_string()).unwrap();
    let err = fails(&["merge", &p(&s1), &p(&overlap), &p(&s3), "--json", o]);
    assert!(err.contains("the shards overlap or leave a gap"), "{err}");
    let err = fails(&["merge", &p(&s1), &p(&s2), "--json", o]);
    assert!(err.contains("shards 3 of 3 are missing"), "{err}");
    // A shard claiming an enormous count allocates nothing for it.
    let mut doc = json(&s2);
    doc["shard"]["count"] = 1_000_000_000_000_000_000u64.into();
    let huge = dir.join("s2-huge.json");
    std::fs::write(&huge, doc.to_string()).unwrap();
    let err = fails(&["merge", &p(&huge), "--json", o]);
    assert!(
        err.contains(
            "999999999999999999 of the 1000000000000000000 shards are missing (the first: 1, 3, 4,"
        ),
        "{err}"
    );
    // An unsharded report, and jobs that would clash with the shards' own options.
    let whole = dir.join("whole.json");
    ok(&[
        "infer",
        "--backend",
        "cycle",
        "--limit",
        "40",
        "--json",
        whole.to_str().unwrap(),
    ]);
    let err = fails(&["merge", &p(&s1), &p(&whole), "--json", o]);
    assert!(err.contains("whole.json: not a shard"), "{err}");
    let err = fails(&[
        "jobs", "--shards", "2", "--dir", o, "--", "infer", "--json", "x.json",
    ]);
    assert!(err.contains("leave them out"), "{err}");
    let err = fails(&[
        "jobs", "--shards", "2", "--dir", o, "--", "infer", "--vcd", "x.vcd",
    ]);
    assert!(
        err.contains("--shard, --json, --vcd; leave them out"),
        "{err}"
    );
    let err = fails(&["infer", "--backend", "ref", "--shard", "1/2"]);
    assert!(err.contains("--shard runs on the engine backends"), "{err}");
    let err = fails(&["cosim", "--level", "array", "--shard", "1/2"]);
    assert!(
        err.contains("--shard splits the engine's layer-level cases"),
        "{err}"
    );
}
