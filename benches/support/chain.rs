//! The chain the network benches (live, sim, processes) drive, and how: `depth`
//! services, `hop1` (the entrypoint) calling `hop2` and so on, every one answering at
//! once, driven closed-loop.

pub fn chain_yaml(depth: usize) -> String {
    let mut yaml = String::from("name: chain\nservices:\n");
    for i in 1..=depth {
        let entry = if i == 1 { "    entrypoint: true\n" } else { "" };
        let calls = if i < depth {
            format!("{{ calls: [ {{ service: hop{} }} ] }}", i + 1)
        } else {
            "{}".to_owned()
        };
        yaml.push_str(&format!(
            "  hop{i}:\n{entry}    versions: {{ v1: {calls} }}\n"
        ));
    }
    let initial: Vec<String> = (1..=depth).map(|i| format!("hop{i}: v1")).collect();
    yaml.push_str(&format!(
        "initial: {{ {} }}\ntarget: {{}}\n",
        initial.join(", ")
    ));
    yaml
}

/// Drives the chain of `cluster` closed-loop: `in_flight` workers, each sending its
/// share of `requests` to `hop1` one after the other, every one answered.
pub async fn drive(
    cluster: &std::sync::Arc<deploysim::runtime::cluster::Cluster>,
    requests: usize,
    in_flight: usize,
) {
    let link = cluster
        .link(deploysim::contract::CLIENT, "hop1")
        .expect("entry link");
    let per_worker = requests / in_flight;
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let link = std::sync::Arc::clone(&link);
            let target = link.target("v1", None);
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let request = deploysim::contract::CallRequest::default();
                    link.call(&target, request, std::time::Duration::from_secs(10))
                        .await
                        .expect("the chain answers");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
}
