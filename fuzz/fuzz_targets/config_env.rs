//! Configuration from an arbitrary environment map (`Config::from_env`), and what is made of
//! it for people: the problems (`config.invalid` lines), the health body, the admin routes'
//! misconfiguration message and the `Debug` rendering.
//!
//! Input: `NAME=value` pairs separated by NUL (names outside the product's list are kept:
//! they must be ignored). A pair whose name is a decimal number `n` names the n-th variable
//! of `VARIABLES`, so that the fuzzer reaches every variable without spelling it.
//! Asserts: no output contains the value of a secret variable (`CLERK_SECRET_KEY`,
//! `CLERK_ADMIN_TOKEN`, `CLERK_WEBHOOK_SIGNING_SECRET`), each compared with the same
//! outputs of the same map without those variables; problems name variables of the list;
//! a configuration with token-checking problems fails protected requests closed.
#![no_main]

use std::collections::BTreeMap;

use clerk_edge_guard::config::{Config, Impact, VARIABLES};
use clerk_edge_guard::health::health_report;
use libfuzzer_sys::fuzz_target;
use oracles::{leaks, rotate, SECRET_VARIABLES};

const NOW_MS: i64 = 1_766_000_000_000;

fn outputs(config: &Config) -> String {
    let mut out = String::new();
    for problem in &config.problems {
        out.push_str(problem.variable);
        out.push(' ');
        out.push_str(&problem.problem);
        out.push('\n');
    }
    out.push_str(&health_report(config, false, NOW_MS).to_string());
    out.push('\n');
    out.push_str(&config.admin_misconfigured_message());
    out.push('\n');
    out.push_str(&format!("{config:?}"));
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for pair in text.split('\0') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = match name.parse::<usize>() {
            Ok(i) => VARIABLES[i % VARIABLES.len()].to_owned(),
            Err(_) => name.to_owned(),
        };
        env.insert(name, value.to_owned());
    }
    let config = Config::from_env(&|name: &str| env.get(name).cloned());
    // The reference: the same map with every secret's characters rotated (keeping its
    // prefix, length and character classes, so it is refused or accepted alike). Text that
    // is in both outputs is the product's own, not the secret.
    let rotated: BTreeMap<String, String> = env
        .iter()
        .map(|(name, value)| {
            let value = if SECRET_VARIABLES.contains(&name.as_str()) {
                rotate(value)
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    let without_secrets = Config::from_env(&|name: &str| rotated.get(name).cloned());
    let out = outputs(&config);
    let reference = outputs(&without_secrets);
    for name in SECRET_VARIABLES {
        if let Some(value) = env.get(*name) {
            assert!(
                !leaks(&out, value, &reference),
                "{name}'s value is in an output:\n{out}"
            );
            // A rotation list: each secret on its own.
            for part in value.split_whitespace() {
                assert!(
                    !leaks(&out, part, &reference),
                    "{name}'s value is in an output:\n{out}"
                );
            }
        }
    }
    for problem in &config.problems {
        assert!(
            VARIABLES.contains(&problem.variable),
            "a problem names an unknown variable"
        );
        assert!(!problem.problem.is_empty(), "a problem without a text");
    }
    if config.has_problems(Impact::Auth) {
        let health = health_report(&config, false, NOW_MS);
        assert_eq!(
            health["status"], "misconfigured",
            "broken token checking not reported"
        );
    }
});
