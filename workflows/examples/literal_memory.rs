//! Peak memory of the in-text dictionary for the 1 GB bench's shape (117,731 e-mails with their
//! `%40` spellings, 109,010 IPv4 addresses, 107,280 two-word names):
//! `cargo run --release -p understudy-workflows --example literal_memory`.
//! Prints VmHWM/VmRSS after the needles are made, after the build, and after a search.
//! An argument `names` or `tokens` builds only the names (automaton) or only the e-mails and
//! IPs (token index).

use understudy_workflows::rewrite::{Boundary, Literals};

fn status() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn main() {
    let words = [
        "anna", "bert", "carla", "dieter", "emil", "frida", "gustav", "hanna", "ingo", "julia",
        "klaus", "lena", "mario", "nina", "otto", "paula",
    ];
    // `names`, `tokens` or (default) both: which part of the dictionary to build.
    let part = std::env::args().nth(1).unwrap_or_default();
    let (tokens, names) = (part != "names", part != "tokens");
    let mut b = Literals::builder();
    for i in (0..117_731usize).filter(|_| tokens) {
        let email = format!(
            "{}.{}{i}@mail{}.example",
            words[i % 16],
            words[(i / 16) % 16],
            i % 97
        );
        let fake = format!("user-{i:016x}@example.invalid");
        b.add(email.as_bytes(), fake.as_bytes(), Boundary::Email);
        b.add(
            email.replace('@', "%40").as_bytes(),
            fake.replace('@', "%40").as_bytes(),
            Boundary::Email,
        );
    }
    for i in (0..109_010usize).filter(|_| tokens) {
        let ip = format!(
            "{}.{}.{}.{}",
            10 + i % 200,
            (i / 200) % 250,
            (i / 50000) % 250,
            i % 251
        );
        b.add(
            ip.as_bytes(),
            format!("192.0.2.{}", 1 + i % 254).as_bytes(),
            Boundary::Number,
        );
    }
    for i in (0..107_280usize).filter(|_| names) {
        let name = format!("{} {}son{i}", words[i % 16], words[(i / 16) % 16]);
        b.add(name.as_bytes(), b"Kavoru Tesima", Boundary::Word);
    }
    let needles = b.len();
    println!("needles made ({needles}): HWM / RSS {}", status());
    let t = std::time::Instant::now();
    let literals = b.build().unwrap();
    println!("built in {:?}: HWM / RSS {}", t.elapsed(), status());
    let hay = "mail Anna.Anna0@mail0.example or 10.0.0.0, anna annason0 or x%40y.z 1.2.3.4 "
        .repeat(100_000);
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    let n = literals.replace_into(hay.as_bytes(), &mut out);
    println!(
        "searched {} MB in {:?} ({n} replaced): HWM / RSS {}",
        hay.len() / 1_000_000,
        t.elapsed(),
        status()
    );
    // Prose without any needle, as post content: 3 KB values, the pre-check on each.
    let prose = words
        .iter()
        .chain(&["lorem", "ipsum", "dolor", "sit", "amet", "version", "2.4"])
        .cycle()
        .take(500)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let value = format!("<p>{prose}, {prose}.</p>");
    let values = 100_000_000 / value.len();
    let t = std::time::Instant::now();
    let candidates = (0..values)
        .filter(|_| literals.has_candidate(std::hint::black_box(value.as_bytes())))
        .count();
    println!(
        "pre-checked {} MB of prose in {:?} ({candidates} candidates)",
        values * value.len() / 1_000_000,
        t.elapsed()
    );
}
