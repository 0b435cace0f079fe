//! The scenario both network benches drive: a chain of `depth` services, `hop1` (the
//! entrypoint) calling `hop2` and so on, every one answering at once.

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
