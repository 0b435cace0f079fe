//! `simulate import`: scenarios from Kubernetes manifests and from a tracing system's
//! dependency list, on inputs written here in the shape of public demo apps
//! (tests/fixtures/import/). What it writes must load, and say what a team would see in
//! its own cluster.

use deploysim::model::Scenario;

use crate::support::{TempDir, simulate};

fn import(args: &[&str]) -> (String, Scenario) {
    let (text, scenario, _) = import_with_summary(args);
    (text, scenario)
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

/// A Service and the Deployment behind it, labelled `app: NAME`, with `env` (name, value)
/// pairs; `kind` is the Service's type.
fn workload(name: &str, kind: &str, env: &[(&str, &str)]) -> String {
    let env: Vec<String> = env
        .iter()
        .map(|(key, value)| format!("{{ name: {key}, value: \"{value}\" }}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec: {{ type: {kind}, selector: {{ app: {name} }} }}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: {name} }}\nspec:\n  selector: {{ matchLabels: {{ app: {name} }} }}\n  template:\n    metadata: {{ labels: {{ app: {name} }} }}\n    spec:\n      containers:\n        - name: server\n          image: example/{name}:v1\n          env: [ {} ]\n---\n",
        env.join(", ")
    )
}

/// `simulate import ARGS...` that must succeed: the written scenario, loaded, and the
/// summary on stderr.
fn import_with_summary(args: &[&str]) -> (String, Scenario, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let run = simulate(&all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let scenario =
        deploysim::scenario::parse_str(&run.stdout, std::path::Path::new("imported.yaml"))
            .unwrap_or_else(|err| panic!("the import loads: {err}\n{}", run.stdout));
    (run.stdout, scenario, run.stderr)
}

#[test]
fn manifests_and_a_dependency_list_merge_into_every_call() {
    let dir = TempDir::new("import-merge");
    // Calls live in code: the manifests name one callee, the trace all of them, under
    // names that differ from the Services' (a workload name, and one the user maps).
    let manifests = workload("frontend", "LoadBalancer", &[("CART_ADDR", "cart:7070")])
        + &workload("cart", "ClusterIP", &[])
        + &workload("catalog", "ClusterIP", &[])
        + &workload("nginx-thrift", "ClusterIP", &[])
        + &workload("jaeger-agent", "NodePort", &[])
        // A Service whose name differs from its Deployment's, which the trace uses.
        + "apiVersion: v1\nkind: Service\nmetadata: { name: user-svc }\nspec: { selector: { app: user } }\n---\n\
           apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: user-service }\nspec:\n  template:\n    metadata: { labels: { app: user } }\n    spec: { containers: [ { name: c, image: example/user:v1 } ] }\n";
    std::fs::write(dir.path().join("app.yaml"), manifests).expect("write");
    let deps = r#"[
        {"parent": "frontend", "child": "cart", "callCount": 40},
        {"parent": "frontend", "child": "catalog", "callCount": 90},
        {"parent": "nginx-web-server", "child": "frontend", "callCount": 100},
        {"parent": "cart", "child": "redis", "callCount": 40},
        {"parent": "frontend", "child": "user-service", "callCount": 5}
    ]"#;
    let list = dir.path().join("deps.json");
    std::fs::write(&list, deps).expect("write");
    let (text, scenario, summary) = import_with_summary(&[
        dir.path().to_str().expect("utf-8"),
        list.to_str().expect("utf-8"),
        "--map",
        "nginx-web-server=nginx-thrift",
    ]);
    // The manifests' call first, then the trace's, the busiest first; `user-service`
    // is the Deployment behind Service user-svc.
    assert_eq!(
        callees(&scenario, "frontend"),
        vec!["cart", "catalog", "user-svc"]
    );
    assert!(
        text.replace("\n#   ", " ")
            .contains("\"user-service\" is user-svc (its Deployment name)"),
        "{text}"
    );
    assert_eq!(callees(&scenario, "nginx-thrift"), vec!["frontend"]);
    assert_eq!(callees(&scenario, "cart"), vec!["redis"]);
    // A trace service with no manifest is a service of its own, and said so.
    assert!(scenario.services.contains_key("redis"));
    assert!(
        summary.contains("matched no manifest") && summary.contains("redis"),
        "{summary}"
    );
    assert!(text.contains("no manifest matches it"), "{text}");
    assert!(
        summary.contains("1 from the manifests, 4 from dependency lists"),
        "{summary}"
    );
    // The agent behind a NodePort calls nothing while the frontend calls others: not an
    // entrypoint, and the notes say why.
    let entrypoints: Vec<&str> = scenario.entrypoints().map(|s| s.name.as_str()).collect();
    assert_eq!(entrypoints, vec!["frontend"]);
    assert!(
        summary.contains("entrypoint frontend: type: LoadBalancer"),
        "{summary}"
    );
    assert!(
        text.replace("\n#   ", " ")
            .contains("exposed but calling nothing"),
        "{text}"
    );
}

#[test]
fn an_unknown_map_target_or_entrypoint_is_refused_with_the_name() {
    let dir = TempDir::new("import-map");
    std::fs::write(
        dir.path().join("app.yaml"),
        workload("web", "LoadBalancer", &[]),
    )
    .expect("write");
    let list = dir.path().join("deps.json");
    std::fs::write(&list, r#"[{"parent": "a", "child": "b", "callCount": 1}]"#).expect("write");
    let dir_arg = dir.path().to_str().expect("utf-8");
    let run = simulate(&[
        "import",
        dir_arg,
        list.to_str().expect("utf-8"),
        "--map",
        "a=nowhere",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--map a=nowhere: no service nowhere"),
        "{}",
        run.stderr
    );
    let run = simulate(&["import", dir_arg, "--entrypoint", "ghost"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--entrypoint ghost: no such service"),
        "{}",
        run.stderr
    );
}

#[test]
fn services_with_no_calls_are_named_and_entrypoints_can_be_named_by_hand() {
    let dir = TempDir::new("import-isolated");
    let manifests = workload("front-end", "NodePort", &[])
        + &workload("orders", "ClusterIP", &[])
        + &workload("carts", "ClusterIP", &[]);
    std::fs::write(dir.path().join("app.yaml"), manifests).expect("write");
    let (text, _, summary) = import_with_summary(&[dir.path().to_str().expect("utf-8")]);
    assert!(
        summary.contains("3 services have no call in or out: carts, front-end, orders"),
        "{summary}"
    );
    assert!(
        summary.contains("calls made in code are invisible to manifests"),
        "{summary}"
    );
    assert!(
        text.replace("\n#   ", " ")
            .contains("give a dependency list"),
        "{text}"
    );
    // `check` names what no entrypoint reaches, once, without failing for it.
    let out = TempDir::new("import-isolated-out");
    let written = out.path().join("imported.yaml");
    std::fs::write(&written, &text).expect("write");
    let check = simulate(&["check", written.to_str().expect("utf-8")]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert_eq!(
        check
            .stdout
            .matches("warning: no entrypoint reaches 2 services (carts, orders)")
            .count(),
        1,
        "{}",
        check.stdout
    );
    let (_, scenario, summary) = import_with_summary(&[
        dir.path().to_str().expect("utf-8"),
        "--entrypoint",
        "orders",
    ]);
    let entrypoints: Vec<&str> = scenario.entrypoints().map(|s| s.name.as_str()).collect();
    assert_eq!(entrypoints, vec!["orders"]);
    assert!(
        summary.contains("entrypoint orders: named with --entrypoint"),
        "{summary}"
    );
}

#[test]
fn a_deployment_in_two_files_is_one_service_and_a_nested_folder_is_read() {
    let dir = TempDir::new("import-twice");
    let app = workload("web", "LoadBalancer", &[("DETAILS_HOST", "details:9080")])
        + &workload("details", "ClusterIP", &[]);
    std::fs::write(dir.path().join("app.yaml"), &app).expect("write");
    std::fs::write(dir.path().join("app-psa.yaml"), &app).expect("write");
    let nested = dir.path().join("services").join("ratings");
    std::fs::create_dir_all(&nested).expect("mkdir");
    std::fs::write(
        nested.join("ratings.yaml"),
        workload("ratings", "ClusterIP", &[]),
    )
    .expect("write");
    let (text, scenario, _) = import_with_summary(&[dir.path().to_str().expect("utf-8")]);
    let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
    assert_eq!(names, vec!["details", "ratings", "web"]);
    assert_eq!(scenario.initial.version("web"), Some("v1"));
    assert_eq!(scenario.services["web"].versions.len(), 1, "{text}");
    assert!(text.contains("repeats 4 objects of"), "{text}");
}

#[test]
fn what_it_cannot_read_is_said_a_dangling_callee_a_network_policy_and_a_helm_template() {
    let dir = TempDir::new("import-unseen");
    let manifests = workload(
        "frontend",
        "LoadBalancer",
        &[
            ("CART_SERVICE_ADDR", "cart:7070"),
            (
                "SHOPPING_ASSISTANT_SERVICE_ADDR",
                "shoppingassistantservice:80",
            ),
        ],
    ) + &workload("cart", "ClusterIP", &[])
        + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: cart }\nspec:\n  podSelector: { matchLabels: { app: cart } }\n  ingress: [ { from: [ { podSelector: { matchLabels: { app: frontend } } } ] } ]\n";
    std::fs::write(dir.path().join("app.yaml"), manifests).expect("write");
    let (text, scenario, _) = import_with_summary(&[dir.path().to_str().expect("utf-8")]);
    // The notes wrap over comment lines; read them whole.
    let text = text.replace("\n#   ", " ");
    assert_eq!(callees(&scenario, "frontend"), vec!["cart"]);
    assert!(
        text.contains("names shoppingassistantservice, which no Service in the manifests has"),
        "{text}"
    );
    assert!(
        text.contains("skipped 1 NetworkPolicy: allowed is not called"),
        "{text}"
    );
    assert!(
        text.contains(
            "NetworkPolicy cart allows frontend to call cart: candidate calls, not added"
        ),
        "{text}"
    );
    // Notes are whole: the advice at their end is not cut.
    assert!(text.contains("a manifest not given?)"), "{text}");
    let chart = dir.path().join("deployment.yaml");
    std::fs::write(
        &chart,
        "{{- if .Values.enabled }}\nkind: Service\n{{- end }}\n",
    )
    .expect("write");
    let run = simulate(&["import", chart.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("a Helm template") && run.stderr.contains("helm template"),
        "{}",
        run.stderr
    );
}
