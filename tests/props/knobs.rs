//! The case-count knobs do what docs/testing.md says: `PROPTEST_CASES` sets the pure
//! properties' count and nothing else; `PROPTEST_LIVE_CASES` and `PROPTEST_SIM_CASES`
//! set the live and sim ones', with a rejection bound that follows their own count.
//!
//! Environment variables cannot be set inside a test (it is unsafe in edition 2024 and
//! races the other tests), so the test runs this same binary again with them set, and
//! the child (`DEPLOYSIM_KNOB_PROBE`) reports what the runner actually did.

use std::cell::Cell;

use proptest::prelude::*;

#[test]
fn the_case_counts_follow_their_own_variables() {
    if std::env::var_os("DEPLOYSIM_KNOB_PROBE").is_some() {
        probe();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .args([
            "--exact",
            "knobs::the_case_counts_follow_their_own_variables",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DEPLOYSIM_KNOB_PROBE", "1")
        .env("PROPTEST_CASES", "512")
        .env("PROPTEST_MAX_GLOBAL_REJECTS", "999")
        .env("PROPTEST_LIVE_CASES", "3")
        .env("PROPTEST_SIM_CASES", "5")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "pure cases 512",
        "live cases 3, rejected before giving up 2",
        "sim cases 5, rejected before giving up 1",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
}

/// In the child: how many cases each kind of property ran, and how many rejections it
/// took before the run gave up.
fn probe() {
    println!("pure cases {}", crate::pure().cases);
    for (kind, config) in [("live", crate::live(10)), ("sim", crate::sim(64))] {
        let ran = Cell::new(0u32);
        crate::run_property(config.clone(), "probe", file!(), 0u32..1000, |_| {
            ran.set(ran.get() + 1);
            Ok(())
        });
        let rejected = Cell::new(0u32);
        let gave_up = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::run_property(config, "probe", file!(), 0u32..1000, |_| {
                rejected.set(rejected.get() + 1);
                prop_assume!(false);
                Ok(())
            });
        }));
        assert!(gave_up.is_err(), "a property that rejects every case fails");
        println!(
            "{kind} cases {}, rejected before giving up {}",
            ran.get(),
            rejected.get()
        );
    }
}
