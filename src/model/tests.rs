//! Unit tests of `model`.
use super::*;

#[test]
fn a_percent_is_a_share_of_users_and_raising_it_only_adds_users() {
    for percent in [1u32, 10, 30, 50, 90] {
        let on = (0..10_000u64)
            .filter(|&user| flag_on("show-reviews", user, percent))
            .count();
        let share = on as f64 / 10_000.0;
        let p = f64::from(percent) / 100.0;
        assert!((share - p).abs() <= 0.015, "{percent}%: {share}");
    }
    for user in 0..2_000u64 {
        let first_on = (0..=100u32).find(|&percent| flag_on("f", user, percent));
        // On from some percent on, and on at every percent above it.
        let from = first_on.expect("on at 100%");
        assert!((from..=100).all(|percent| flag_on("f", user, percent)));
        assert!(!flag_on("f", user, 0), "off at 0%");
    }
}

#[test]
fn two_flags_split_users_independently() {
    let both = (0..10_000u64)
        .filter(|&user| flag_on("a", user, 50) && flag_on("b", user, 50))
        .count();
    assert!(
        (2_200..=2_800).contains(&both),
        "{both} of 10,000 are in both halves"
    );
}

fn flags_of(on: bool, percent: u8) -> Flags {
    Flags(BTreeMap::from([(
        "f".to_owned(),
        FlagSetting { on, percent },
    )]))
}

#[test]
fn release_unrelease_and_percent_change_one_flag() {
    let mut flags = Flags(BTreeMap::from([(
        "f".to_owned(),
        FlagSetting {
            on: false,
            percent: 100,
        },
    )]));
    assert_eq!(flags.share("f"), 0);
    flags.apply(&FlagChange::Percent("f".into(), 10));
    assert_eq!(flags.share("f"), 10);
    flags.apply(&FlagChange::Unrelease("f".into()));
    assert_eq!(flags.share("f"), 0);
    flags.apply(&FlagChange::Release("f".into()));
    assert_eq!(flags.share("f"), 10, "a release keeps the last percent");
    let before = flags.clone();
    flags.apply(&FlagChange::Percent("f".into(), 100));
    assert_eq!(
        flags.back_to(&before),
        vec![FlagChange::Percent("f".into(), 10)]
    );
    // Off at another percent is still off: nothing to change back.
    assert!(
        flags_of(false, 10)
            .back_to(&flags_of(false, 100))
            .is_empty()
    );
    assert_eq!(flags.share("unknown"), 0);
}
