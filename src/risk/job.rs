//! A sharded `simulate risk` run as a Kubernetes Indexed Job (pure): the manifests that
//! `simulate export job` writes.
//!
//! One Job with `completionMode: Indexed` and as many completions (and pods at once) as
//! shards; each pod runs `simulate risk --shard $(JOB_COMPLETION_INDEX)/N` on the scenario
//! mounted from a ConfigMap and prints its part between its markers on standard output,
//! where `kubectl logs` gathers them for `simulate merge` (docs/cluster.md). No volume is
//! needed, so nothing has to be shared across nodes.

use crate::kube::{quoted, scenario_mount};

/// What the Job runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec<'a> {
    /// The scenario's name (a DNS label: the loader checks it), naming the objects.
    pub name: &'a str,
    /// The scenario's text, carried whole in the ConfigMap.
    pub text: &'a str,
    pub shards: u32,
    pub trials: u32,
    pub seed: u64,
    /// The image with `simulate` on its PATH (Containerfile, docs/cluster.md).
    pub image: &'a str,
    /// `--strategy` names, passed on.
    pub strategies: &'a [String],
}

/// Where the scenario is mounted in a pod; the report's heading shows this path.
pub use crate::kube::MOUNTED;

impl JobSpec<'_> {
    /// The Job's name: `deploysim-risk-NAME`, cut so that each pod's hostname (the name,
    /// `-` and its index) is still a DNS label of at most 63 characters, which the API
    /// server requires of an Indexed Job.
    pub fn job_name(&self) -> String {
        let index_digits = self.shards.saturating_sub(1).max(1).ilog10() as usize + 1;
        let mut name = format!("deploysim-risk-{}", self.name);
        name.truncate(63 - 1 - index_digits);
        name.trim_end_matches('-').to_owned()
    }

    /// (file name, YAML) of each manifest: the ConfigMap, then the Job.
    pub fn manifests(&self) -> Vec<(&'static str, String)> {
        let job = self.job_name();
        // Strings as JSON strings: valid YAML, and strings, whatever they hold (a
        // scenario named `yes` or `123` is a string label, not a boolean or a number).
        let text = quoted(self.text);
        let name = quoted(self.name);
        let configmap = format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: {job}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {name}
data:
  scenario.yaml: {text}
"
        );
        let mut args = vec![
            "risk".to_owned(),
            MOUNTED.to_owned(),
            "--trials".to_owned(),
            self.trials.to_string(),
            "--seed".to_owned(),
            self.seed.to_string(),
            "--shard".to_owned(),
            format!("$(JOB_COMPLETION_INDEX)/{}", self.shards),
            "--workers".to_owned(),
            "1".to_owned(),
            "--quiet".to_owned(),
        ];
        for strategy in self.strategies {
            args.push("--strategy".to_owned());
            args.push(strategy.clone());
        }
        let args: Vec<String> = args.iter().map(|arg| quoted(arg)).collect();
        let image = quoted(self.image);
        let job_yaml = format!(
            "apiVersion: batch/v1
kind: Job
metadata:
  name: {job}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {name}
spec:
  completionMode: Indexed
  completions: {shards}
  parallelism: {shards}
  backoffLimit: {backoff}
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: deploysim
        deploysim/scenario: {name}
    spec:
      restartPolicy: Never
      containers:
        - name: risk
          image: {image}
          command: [\"simulate\"]
          args: [{args}]
          env:
            - name: JOB_COMPLETION_INDEX
              valueFrom:
                fieldRef:
                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
          resources:
            requests: {{ cpu: \"1\", memory: 256Mi }}
            limits: {{ memory: 1Gi }}
{mounts}",
            mounts = scenario_mount(&job),
            shards = self.shards,
            backoff = self.shards.saturating_mul(2).max(2),
            args = args.join(", "),
        );
        vec![("configmap.yaml", configmap), ("job.yaml", job_yaml)]
    }

    /// The commands that run the Job and merge its parts, for the user.
    pub fn commands(&self, dir: &str) -> Vec<String> {
        let job = self.job_name();
        vec![
            format!("kubectl apply -f {dir}"),
            format!("kubectl wait --for=condition=complete job/{job} --timeout=24h"),
            format!(
                "kubectl logs -l job-name={job} --tail=-1 --max-log-requests={} > parts.log",
                self.shards.max(5)
            ),
            "simulate merge parts.log --out report/".to_owned(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_leaves_room_for_every_pod_s_index() {
        let name = "a-very-long-scenario-name-that-fills-up-the-dns-label-limit-xx";
        for shards in [2, 11, 1000] {
            let spec = JobSpec {
                name,
                text: "",
                shards,
                trials: 1,
                seed: 0,
                image: "i",
                strategies: &[],
            };
            let hostname = format!("{}-{}", spec.job_name(), shards - 1);
            assert!(hostname.len() <= 63, "{hostname}");
        }
    }

    #[test]
    fn each_pod_runs_its_own_shard_of_the_scenario_it_mounts() {
        let spec = JobSpec {
            name: "risk",
            text: "name: risk\n# a \"quoted\" comment\n",
            shards: 4,
            trials: 1000,
            seed: 7,
            image: "ghcr.io/example/deploysim:0.1",
            strategies: &[],
        };
        let manifests = spec.manifests();
        let job = &manifests[1].1;
        assert!(job.contains("completionMode: Indexed"));
        assert!(job.contains("completions: 4"));
        assert!(job.contains("\"$(JOB_COMPLETION_INDEX)/4\""));
        assert!(
            manifests[0]
                .1
                .contains(r#"scenario.yaml: "name: risk\n# a \"quoted\" comment\n""#)
        );
        assert!(job.contains("deploysim/scenario: \"risk\""));
        assert_eq!(spec.job_name(), "deploysim-risk-risk");
        assert!(spec.commands("job/")[2].contains("job-name=deploysim-risk-risk"));
    }
}
