//! `simulate import`: scenarios from Kubernetes manifests and from a tracing system's
//! dependency list, on inputs written here in the shape of public demo apps
//! (tests/fixtures/import/). What it writes must load, and say what a team would see in
//! its own cluster.

use deploysim::model::Scenario;

use crate::support::{TempDir, simulate};

fn import(args: &[&str]) -> (String, Scenario) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let run = simulate(&all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let scenario =
        deploysim::scenario::parse_str(&run.stdout, std::path::Path::new("imported.yaml"))
            .unwrap_or_else(|err| panic!("the import loads: {err}\n{}", run.stdout));
    (run.stdout, scenario)
}

fn callees(scenario: &Scenario, service: &str) -> Vec<String> {
    let version = scenario.initial.version(service).expect("deployed");
    scenario.services[service].versions[version]
        .calls
        .iter()
        .map(|call| call.service.clone())
        .collect()
}

#[test]
fn manifests_give_one_service_per_kubernetes_service_with_the_calls_its_env_names() {
    let (text, scenario) = import(&["tests/fixtures/import/online-boutique.yaml"]);
    let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "adservice",
            "cartservice",
            "checkoutservice",
            "currencyservice",
            "emailservice",
            "frontend",
            "paymentservice",
            "productcatalogservice",
            "recommendationservice",
            "redis-cart",
            "shippingservice",
        ],
        "frontend-external is the frontend's pods; the load generator has no Service"
    );
    assert_eq!(scenario.name, "online-boutique");
    // The LoadBalancer Service makes the frontend the entrypoint.
    let entrypoints: Vec<&str> = scenario.entrypoints().map(|s| s.name.as_str()).collect();
    assert_eq!(entrypoints, vec!["frontend"]);
    assert_eq!(
        callees(&scenario, "checkoutservice"),
        vec![
            "productcatalogservice",
            "shippingservice",
            "paymentservice",
            "emailservice",
            "currencyservice",
            "cartservice"
        ],
        "in the order the env names them"
    );
    assert_eq!(callees(&scenario, "cartservice"), vec!["redis-cart"]);
    assert_eq!(
        callees(&scenario, "recommendationservice"),
        vec!["productcatalogservice"]
    );
    assert_eq!(callees(&scenario, "frontend").len(), 7);
    let frontend = &scenario.services["frontend"];
    assert_eq!(frontend.replicas, 2);
    assert_eq!(frontend.startup.as_millis(), 3000);
    assert!(frontend.versions.contains_key("v0.10.1"), "the image tag");
    assert_eq!(
        scenario.services["redis-cart"].rollout,
        deploysim::model::Rollout::Recreate
    );
    // Where each value came from, and what was left out.
    assert!(text.contains("# env REDIS_ADDR names redis-cart"), "{text}");
    assert!(
        text.contains("entrypoint: true   # Service frontend-external is type LoadBalancer"),
        "{text}"
    );
    assert!(text.contains("Deployment loadgenerator"), "{text}");
    assert!(text.contains("# target: "), "{text}");
    // The import is a scenario to start from: check runs on it.
    let dir = TempDir::new("import-ob");
    let path = dir.path().join("ob.yaml");
    let written = simulate(&[
        "import",
        "tests/fixtures/import",
        "--name",
        "shop",
        "--out",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert!(
        written.stderr.contains("imported 11 services"),
        "{}",
        written.stderr
    );
    let check = simulate(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("check shop"), "{}", check.stdout);
    assert!(
        check.stdout.contains("single points of failure"),
        "{}",
        check.stdout
    );
}

#[test]
fn a_dependency_list_gives_a_call_per_pair_and_breaks_cycles_in_a_comment() {
    let (text, scenario) = import(&[
        "tests/fixtures/import/hotel-reservation-dependencies.json",
        "--name",
        "hotel",
    ]);
    assert_eq!(scenario.services.len(), 18);
    assert_eq!(
        callees(&scenario, "frontend"),
        vec!["profile", "search", "recommendation", "user", "reservation"],
        "the busiest first"
    );
    // rate -> search (3 calls) closes search -> rate -> search: it is the one left out.
    assert_eq!(
        callees(&scenario, "search"),
        vec!["geo", "rate"],
        "ties by name"
    );
    assert_eq!(
        callees(&scenario, "rate"),
        vec!["memcached-rate", "mongodb-rate"]
    );
    assert!(
        text.contains("# - { service: search }   # left out: closes the cycle"),
        "{text}"
    );
    // A name that is no DNS label is made one, and the original is kept in a comment.
    assert!(scenario.services.contains_key("rate-cache-warmer"));
    assert!(
        text.contains("\"Rate_Cache_Warmer\" in the dependency list"),
        "{text}"
    );
    let entrypoints: Vec<&str> = scenario.entrypoints().map(|s| s.name.as_str()).collect();
    assert_eq!(
        entrypoints,
        vec!["frontend", "rate-cache-warmer"],
        "nobody's child"
    );
}

#[test]
fn inputs_it_cannot_use_are_refused_with_the_reason() {
    let dir = TempDir::new("import-bad");
    let no_service = dir.path().join("deploy.yaml");
    std::fs::write(
        &no_service,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec: {}\n",
    )
    .expect("write");
    let run = simulate(&["import", no_service.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no Kubernetes Service found"),
        "{}",
        run.stderr
    );
    let bad_json = dir.path().join("deps.json");
    std::fs::write(&bad_json, "[{\"parent\": \"a\"}]").expect("write");
    let run = simulate(&["import", bad_json.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("expected string keys `parent` and `child`"),
        "{}",
        run.stderr
    );
    let missing = simulate(&["import", "no/such/file.yaml"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no/such/file.yaml"),
        "{}",
        missing.stderr
    );
}
