use shiftadd_sim::net::*;
use shiftadd_sim::*;
use std::time::Instant;
fn main() {
    let g = archs::by_name("resnet20-shiftadd").unwrap();
    let cfg = spec::presets::seed();
    let m = random::random_model(&g, &cfg, 7);
    let infos = g.analyse().unwrap();
    let r = m.runner().unwrap();
    let img = random::random_image(&g, 3);
    let input = Value::Act(r.input_codes(&img));
    let mut values = Vec::new();
    for idx in 0..g.nodes.len() {
        let t = Instant::now();
        let mut res = None;
        for _ in 0..20 {
            res = Some(eval_node(&m, &infos, idx, &input, &values));
        }
        let dt = t.elapsed().as_secs_f64() / 20.0;
        let (v, st) = res.unwrap();
        let maxv = match &v {
            Value::Act(t) | Value::Adder(t) => {
                t.data.iter().map(|x| x.unsigned_abs()).max().unwrap()
            }
            _ => 0,
        };
        println!(
            "{:<24} {:<6} {:>8.3} ms {:>6.2} G/s max|out| {}",
            st.name,
            st.kind,
            dt * 1e3,
            st.taps as f64 / dt / 1e9,
            maxv
        );
        values.push(v);
    }
}
