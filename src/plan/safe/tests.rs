//! Unit tests of `safe`.
use super::*;
use crate::report;
use crate::scenario::inline as load;

const BREAKING: &str = "
name: breaking
services:
  web:
    entrypoint: true
    versions: { v1: { calls: [ { service: cart } ] } }
  cart:
    versions:
      v1: { calls: [ { service: pricing, api: v1 } ] }
      v2: { calls: [ { service: pricing, api: v2 } ] }
  pricing:
    versions:
      v1: { provides: [v1] }
      v2: { provides: PRICING_V2 }
initial: { web: v1, cart: v1, pricing: v1 }
target: { cart: v2, pricing: v2 }
";

fn order(yaml: &str) -> SafeOrder {
    let scenario = load(yaml);
    plan(&Graph::new(&scenario), &scenario)
}

#[test]
fn a_mutual_api_change_has_no_safe_order_and_the_fix_is_expand_then_contract() {
    let SafeOrder::NotFound {
        conflicts,
        proven: true,
    } = order(&BREAKING.replace("PRICING_V2", "[v2]"))
    else {
        panic!("no order should be safe");
    };
    let (summary, fix) = report::conflict_text(&conflicts[0]);
    assert!(
        summary.contains("pricing v2 drops api v1, which cart v1 calls"),
        "{summary}"
    );
    assert!(
        summary.contains("cart v2 calls pricing api v2, which pricing v1 does not provide"),
        "{summary}"
    );
    let fix = fix.unwrap_or_default();
    assert!(fix.starts_with("expand, then contract"), "{fix}");
    assert!(fix.contains("provides api v1 and api v2"), "{fix}");
}

#[test]
fn an_intermediate_version_that_serves_both_makes_provider_first_safe() {
    let found = order(&BREAKING.replace("PRICING_V2", "[v1, v2]"));
    assert_eq!(
        found,
        SafeOrder::Found {
            steps: vec![StepSpec::deploy(&["pricing"]), StepSpec::deploy(&["cart"])],
            fewest: true,
        }
    );
}

#[test]
fn deploy_dark_then_release_is_a_safe_order_where_releasing_with_the_deploy_is_not() {
    // web v2 calls reviews, a new service, behind a flag: released in the step that
    // adds reviews, web v2 calls it before it is ready.
    let scenario = load(
        "
name: dark
services:
  web:
    entrypoint: true
    versions:
      v1: {}
      v2: { calls: [ { service: reviews, flag: show-reviews } ] }
  reviews: { startup_ms: 100, versions: { v1: {} } }
initial: { web: v1 }
target: { web: v2, reviews: v1 }
flags:
  show-reviews: {}
",
    );
    let graph = Graph::new(&scenario);
    let SafeOrder::Found { steps, fewest } = plan(&graph, &scenario) else {
        panic!("deploying dark first is safe");
    };
    assert!(fewest);
    assert_eq!(steps.len(), 2, "{steps:?}");
    let release = FlagChange::Release("show-reviews".into());
    assert!(
        steps.iter().any(|step| step.flags.contains(&release)),
        "the release is one of the ordered changes: {steps:?}"
    );
    // Either reviews and the flag go first (web v1 never calls it), or web deploys dark
    // first: never web v2 with the flag on before reviews is ready.
    assert!(
        !steps[0].services.iter().any(|s| s == "web") || !steps[0].flags.contains(&release),
        "{steps:?}"
    );
    // Releasing in the same step as the deploy fails while reviews starts.
    let together = crate::check::check_strategy(
        &graph,
        &scenario,
        &crate::model::Strategy {
            name: "batch".into(),
            kind: crate::model::StrategyKind::Batch,
            expect: Default::default(),
            on_breach: None,
            listed: false,
        },
        0,
    );
    assert!(
        !together.graceful(),
        "batch releases with the deploy and fails"
    );
}

#[test]
fn a_broken_target_names_every_stranded_caller_and_the_fix() {
    // cart v2 drops api v1, which web and search (unchanged) still call: no order can
    // help; both callers are named, with the two ways out.
    let yaml = "
name: broken
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: cart } ] } } }
  search: { entrypoint: true, versions: { v1: { calls: [ { service: cart } ] } } }
  cart: { versions: { v1: {}, v2: { provides: [v2] } } }
initial: { web: v1, search: v1, cart: v1 }
target: { cart: v2 }
";
    let SafeOrder::NotFound {
        conflicts,
        proven: true,
    } = order(yaml)
    else {
        panic!("the target fails");
    };
    let (summary, fix) = report::conflict_text(&conflicts[0]);
    assert_eq!(
        summary,
        "the target state fails search: search -> cart api v1: UNIMPLEMENTED (cart v2 does not provide api v1); \
             it strands 2 calls: search v1 -> cart api v1: UNIMPLEMENTED (cart v2 does not provide api v1); \
             web v1 -> cart api v1: UNIMPLEMENTED (cart v2 does not provide api v1)"
    );
    assert_eq!(
        fix.as_deref(),
        Some(
            "move the stranded callers (search, web) to versions that no longer call it, in the release; \
                 or keep the old API (cart api v1) in the providers' new versions"
        )
    );
}

#[test]
fn a_recreate_window_on_a_required_service_cannot_be_ordered_away() {
    let yaml = "
name: window
services:
  web: { entrypoint: true, versions: { v1: { calls: [ { service: db } ] } } }
  db: { rollout: recreate, versions: { v1: {}, v2: {} } }
initial: { web: v1, db: v1 }
target: { db: v2 }
";
    let SafeOrder::NotFound {
        conflicts,
        proven: true,
    } = order(yaml)
    else {
        panic!("the window fails web");
    };
    let (summary, fix) = report::conflict_text(&conflicts[0]);
    assert!(
        summary.starts_with("db uses rollout: recreate"),
        "{summary}"
    );
    assert!(fix.unwrap_or_default().contains("rollout: rolling"));
}

/// A chain s0 -> s1 -> ... -> s(n-1); every v2 calls the next service's api v2, which
/// only its v2 serves (its v2 keeps v1): each service must wait for the next one.
fn chain(n: usize) -> String {
    let mut yaml = String::from("name: chain\nservices:\n");
    for i in 0..n {
        let entry = if i == 0 { "    entrypoint: true\n" } else { "" };
        let (v1, v2) = if i + 1 < n {
            (
                format!("{{ calls: [ {{ service: s{} }} ] }}", i + 1),
                format!(
                    "{{ provides: [v1, v2], calls: [ {{ service: s{}, api: v2 }} ] }}",
                    i + 1
                ),
            )
        } else {
            ("{}".to_owned(), "{ provides: [v1, v2] }".to_owned())
        };
        yaml.push_str(&format!(
            "  s{i}:\n{entry}    versions: {{ v1: {v1}, v2: {v2} }}\n"
        ));
    }
    let all: Vec<String> = (0..n).map(|i| format!("s{i}: v1")).collect();
    let target: Vec<String> = (0..n).map(|i| format!("s{i}: v2")).collect();
    yaml.push_str(&format!(
        "initial: {{ {} }}\ntarget: {{ {} }}\n",
        all.join(", "),
        target.join(", ")
    ));
    yaml
}

#[test]
fn the_exact_search_and_the_constraints_agree_on_a_chain() {
    // 4 changes: the exact search; EXACT_LIMIT + 2 (14): the constraint layering. Both: one per step,
    // the end of the chain first.
    for n in [4, EXACT_LIMIT + 2] {
        let SafeOrder::Found { steps, fewest } = order(&chain(n)) else {
            panic!("a chain has a safe order");
        };
        let expected: Vec<StepSpec> = (0..n)
            .rev()
            .map(|i| StepSpec::deploy(&[format!("s{i}")]))
            .collect();
        assert_eq!(steps, expected, "n = {n}");
        assert_eq!(fewest, n <= EXACT_LIMIT);
    }
}
