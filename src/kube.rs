//! A scenario's fleet as Kubernetes manifests (pure): what `simulate export kubernetes`
//! writes. Each replica is a pod running `simulate serve`; each service version that
//! runs in some state of the release is a Deployment (the initial versions with their
//! replicas, the others at zero), each service a Service selecting its pods of every
//! version, a Job that sends the load (`simulate load`); a strategy's steps are `kubectl
//! scale` commands in a script, in the plan's order, with the rolling or recreate moves
//! of the scenario.

use std::collections::BTreeSet;

use crate::model::{Change, Rollout, Scenario};
use crate::plan::Plan;
use crate::topology;

/// The port every replica serves gRPC (and its health) on.
pub const PORT: u16 = 50051;

/// Seconds a pod has between SIGTERM and SIGKILL: `simulate serve`'s notice (1 s of
/// NOT_SERVING, for the readiness probe, every second, to see), the drain limit the
/// runtime gives a replica leaving rotation (2 s), and one more for the process to exit.
pub const GRACE_SECONDS: u32 = 4;

/// Where the scenario is mounted in a pod.
pub const MOUNTED: &str = "/scenario/scenario.yaml";

/// What the manifests are made of.
#[derive(Debug, Clone)]
pub struct Fleet<'a> {
    pub scenario: &'a Scenario,
    /// The scenario's text, carried whole in the ConfigMap.
    pub text: &'a str,
    /// The image with `simulate` on its PATH (each container runs it by name, whatever
    /// the image's entry point, as risk's Job does).
    pub image: &'a str,
    /// How long the load Job sends the scenario's load, in milliseconds: it should cover
    /// the whole rollout.
    pub load_ms: u64,
}

/// A string as YAML that stays a string whatever it holds (`yes`, `123`): JSON's form.
/// Every manifest the tool writes quotes with it (risk's Job too).
pub(crate) fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A DNS label of at most 63 characters from `parts`: import's rule for names
/// (lowercase, other characters as `-`, cut, no `-` at either end), so that an exported
/// fleet imports back under the same names.
fn label(parts: &[&str]) -> String {
    crate::import::sanitize(&parts.join("-"))
}

/// A container's mount of the scenario at [`MOUNTED`], and the pod's volume of the
/// ConfigMap `configmap` that holds it: the same in every pod the tool writes (risk's
/// Job too).
pub(crate) fn scenario_mount(configmap: &str) -> String {
    format!(
        "          volumeMounts:
            - name: scenario
              mountPath: /scenario
              readOnly: true
      volumes:
        - name: scenario
          configMap:
            name: {configmap}
"
    )
}

impl Fleet<'_> {
    /// Objects' names start with this: `deploysim-NAME`.
    fn prefix(&self) -> String {
        label(&["deploysim", &self.scenario.name])
    }

    /// The Service of `service`: what its callers call, by the service's own name (a
    /// scenario runs in a namespace of its own, docs/kubernetes.md), so that `simulate
    /// import` reads the same names back; `svc-` before a name that starts with a digit
    /// (a Service's name must start with a letter).
    pub fn service_name(&self, service: &str) -> String {
        let name = label(&[service]);
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            label(&["svc", &name])
        } else {
            name
        }
    }

    /// Why these manifests would not apply as they are, every reason at once: two
    /// services or builds whose names come out the same, a version that is no label
    /// value. Empty when they would.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut services: std::collections::BTreeMap<String, &str> = Default::default();
        for service in self.scenario.services.keys() {
            if let Some(other) = services.insert(self.service_name(service), service) {
                problems.push(format!(
                    "services {other} and {service} would both be the Service {}",
                    self.service_name(service)
                ));
            }
        }
        let mut builds: std::collections::BTreeMap<String, (&str, &str)> = Default::default();
        for (service, version) in self.builds() {
            let name = self.deployment_name(service, version);
            if let Some((s, v)) = builds.insert(name.clone(), (service, version)) {
                problems.push(format!(
                    "{s} {v} and {service} {version} would both be the Deployment {name}"
                ));
            }
            let label_value = version.len() <= 63
                && version.ends_with(|c: char| c.is_ascii_alphanumeric())
                && version.starts_with(|c: char| c.is_ascii_alphanumeric());
            if !label_value {
                problems.push(format!(
                    "version {version} of {service} cannot be a Kubernetes label value (it must start and end with a letter or digit)"
                ));
            }
        }
        problems
    }

    /// The Deployment of `version` of `service`.
    pub fn deployment_name(&self, service: &str, version: &str) -> String {
        label(&[service, version])
    }

    /// The Job that sends the scenario's load and prints its JSON report.
    pub fn load_job_name(&self) -> String {
        label(&[&self.prefix(), "load"])
    }

    /// A container's environment: the run's token from the Secret.
    fn token_env(&self) -> String {
        format!(
            "          env:
            - name: DEPLOYSIM_TOKEN
              valueFrom:
                secretKeyRef:
                  name: {}
                  key: token
",
            self.secret_name()
        )
    }

    /// The Secret holding the run's token (`token`), which the script creates.
    pub fn secret_name(&self) -> String {
        label(&[&self.prefix(), "token"])
    }

    /// (service, version) of every build that runs in some state: the initial and the
    /// target versions.
    fn builds(&self) -> BTreeSet<(&str, &str)> {
        self.scenario
            .initial
            .0
            .iter()
            .chain(&self.scenario.target.0)
            .map(|(service, version)| (service.as_str(), version.as_str()))
            .collect()
    }

    /// (file name, YAML) of each manifest: the ConfigMap, the Services, the Deployments.
    pub fn manifests(&self) -> Vec<(String, String)> {
        let scenario = quoted(&self.scenario.name);
        let configmap = format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: {}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {scenario}
data:
  scenario.yaml: {}
",
            self.prefix(),
            quoted(self.text)
        );
        let mut services = String::new();
        for name in self.scenario.services.keys() {
            if !services.is_empty() {
                services.push_str("---\n");
            }
            services.push_str(&format!(
                "apiVersion: v1
kind: Service
metadata:
  name: {}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {scenario}
    deploysim/service: {service}
spec:
  selector:
    deploysim/scenario: {scenario}
    deploysim/service: {service}
  ports:
    - name: grpc
      port: {PORT}
      targetPort: {PORT}
",
                self.service_name(name),
                service = quoted(name),
            ));
        }
        let mut deployments = String::new();
        for (service, version) in self.builds() {
            if !deployments.is_empty() {
                deployments.push_str("---\n");
            }
            deployments.push_str(&self.deployment(service, version));
        }
        vec![
            ("configmap.yaml".to_owned(), configmap),
            ("services.yaml".to_owned(), services),
            ("deployments.yaml".to_owned(), deployments),
            ("load-job.yaml".to_owned(), self.load_job()),
        ]
    }

    /// The Job that sends the scenario's load to the entrypoints' Services for
    /// `load_ms`, counts at the caller and prints the JSON report (`simulate load`), its
    /// exit code the verdict on the scenario's expectations (`--expect graceful` where it
    /// has none).
    fn load_job(&self) -> String {
        let mut args = vec![
            "load".to_owned(),
            MOUNTED.to_owned(),
            "--for-ms".to_owned(),
            self.load_ms.to_string(),
            "--expect".to_owned(),
            "graceful".to_owned(),
            "--json".to_owned(),
            "-".to_owned(),
        ];
        for entry in self.scenario.entrypoints() {
            args.push("--target".to_owned());
            args.push(format!(
                "{}={}:{PORT}",
                entry.name,
                self.service_name(&entry.name)
            ));
        }
        let args: Vec<String> = args.iter().map(|arg| quoted(arg)).collect();
        format!(
            "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {scenario}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: deploysim
        deploysim/scenario: {scenario}
    spec:
      restartPolicy: Never
      containers:
        - name: load
          image: {image}
          command: [\"simulate\"]
          args: [{args}]
{env}{mounts}",
            name = self.load_job_name(),
            scenario = quoted(&self.scenario.name),
            image = quoted(self.image),
            args = args.join(", "),
            env = self.token_env(),
            mounts = scenario_mount(&self.prefix()),
        )
    }

    fn deployment(&self, service: &str, version: &str) -> String {
        let spec = &self.scenario.services[service];
        let replicas = if self.scenario.initial.version(service) == Some(version) {
            spec.replicas
        } else {
            0
        };
        let strategy = match spec.rollout {
            Rollout::Recreate => "Recreate",
            Rollout::Rolling => "RollingUpdate",
        };
        let callees: BTreeSet<&str> = spec.versions[version]
            .every_call()
            .map(|call| call.service.as_str())
            .collect();
        let mut args = vec![
            "serve".to_owned(),
            MOUNTED.to_owned(),
            "--service".to_owned(),
            service.to_owned(),
            "--version".to_owned(),
            version.to_owned(),
            "--addr".to_owned(),
            format!("0.0.0.0:{PORT}"),
        ];
        for callee in callees {
            args.push("--callee".to_owned());
            args.push(format!("{callee}={}:{PORT}", self.service_name(callee)));
        }
        let args: Vec<String> = args.iter().map(|arg| quoted(arg)).collect();
        let (scenario, service_label, version_label) = (
            quoted(&self.scenario.name),
            quoted(service),
            quoted(version),
        );
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: deploysim
    deploysim/scenario: {scenario}
    deploysim/service: {service_label}
    deploysim/version: {version_label}
    # The label Istio and `simulate import` read versions from.
    version: {version_label}
spec:
  replicas: {replicas}
  strategy:
    type: {strategy}
  selector:
    matchLabels:
      deploysim/scenario: {scenario}
      deploysim/service: {service_label}
      deploysim/version: {version_label}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: deploysim
        deploysim/scenario: {scenario}
        deploysim/service: {service_label}
        deploysim/version: {version_label}
        version: {version_label}
    spec:
      terminationGracePeriodSeconds: {GRACE_SECONDS}
      containers:
        - name: replica
          image: {image}
          command: [\"simulate\"]
          args: [{args}]
{env}          ports:
            - name: grpc
              containerPort: {PORT}
          readinessProbe:
            grpc:
              port: {PORT}
            periodSeconds: 1
          livenessProbe:
            grpc:
              port: {PORT}
            periodSeconds: 10
{mounts}",
            name = self.deployment_name(service, version),
            image = quoted(self.image),
            args = args.join(", "),
            env = self.token_env(),
            mounts = scenario_mount(&self.prefix()),
        )
    }

    /// The script that rolls `plan` out on a cluster with `kubectl`, step by step, for
    /// a user to read before running: the Secret with a fresh token, the manifests
    /// beside the script, the initial versions ready, then each step's moves (rolling: the new
    /// version up and ready, then the old one to zero; recreate: the old one to zero and
    /// gone, then the new one up).
    pub fn script(&self, plan: &Plan) -> String {
        let namespace_note =
            "# Runs in kubectl's current namespace; pass -n NS to each command to change it.";
        let mut out = format!(
            "#!/usr/bin/env bash
# Rolls out {scenario} in the order of strategy {strategy}, as `simulate plan` shows it.
# Written by `simulate export kubernetes`: read it before running it.
{namespace_note}
set -euo pipefail
# The manifests beside this script.
dir=\"$(dirname \"$0\")\"

# The run's token: every replica answers only calls that carry it.
kubectl get secret {secret} >/dev/null 2>&1 || \\
  kubectl create secret generic {secret} \\
    --from-literal=token=\"$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')\"
kubectl apply -f \"$dir/configmap.yaml\" -f \"$dir/services.yaml\" -f \"$dir/deployments.yaml\"
",
            scenario = self.scenario.name,
            strategy = plan.strategy,
            secret = self.secret_name(),
        );
        if !plan.not_reached.is_empty() {
            let left: Vec<String> = plan.not_reached.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "\n# A partial rollout: it stops before the target, leaving {}.\n",
                left.join(", ")
            ));
        }
        out.push_str("\n# Step 0: the initial versions, ready.\n");
        for (service, version) in &self.scenario.initial.0 {
            out.push_str(&format!(
                "kubectl rollout status deployment/{} --timeout=5m\n",
                self.deployment_name(service, version)
            ));
        }
        let job = self.load_job_name();
        out.push_str(&format!(
            "\n# The load, for {} s from now: it should outlast the rollout (--load-ms).\n\
             kubectl delete job {job} --ignore-not-found\n\
             kubectl apply -f \"$dir/load-job.yaml\"\n",
            self.load_ms.div_ceil(1000)
        ));
        for step in plan.steps.iter().filter(|step| step.index > 0) {
            out.push_str(&format!("\n# Step {}\n", step.index));
            // The moves in the runtime's phases: every new rolling version up and ready
            // first; then each recreated service down and up again; then the old
            // versions down, callers first, so no old caller outlives what it calls.
            let recreated = |change: &&Change| {
                self.scenario.services[&change.service].rollout == Rollout::Recreate
                    && change.from.is_some()
                    && change.to.is_some()
            };
            for change in step.changes.iter().filter(|c| !recreated(c)) {
                if let Some(new) = &change.to {
                    self.up(&mut out, &change.service, new);
                }
            }
            for change in step.changes.iter().filter(recreated) {
                if let (Some(old), Some(new)) = (&change.from, &change.to) {
                    self.down(&mut out, &change.service, old);
                    self.up(&mut out, &change.service, new);
                }
            }
            for change in topology::callers_first(self.scenario, &step.changes) {
                if recreated(&change) {
                    continue;
                }
                if let Some(old) = &change.from {
                    self.down(&mut out, &change.service, old);
                }
            }
            if !step.flag_changes.is_empty() {
                out.push_str(
                    "# This step also changes flags, which ride on each request's context: a\n\
                     # cluster run's load starts with the initial flags, so they are not applied.\n",
                );
            }
        }
        out.push_str(&format!(
            "\n# The load's report (JSON; the Job fails when an expectation failed).\n\
             kubectl wait --for=condition=complete job/{job} --timeout={}s || true\n\
             kubectl logs job/{job}\n",
            self.load_ms.div_ceil(1000) + 60
        ));
        out
    }

    /// `version` of `service` scaled to its replicas, and ready.
    fn up(&self, out: &mut String, service: &str, version: &str) {
        let name = self.deployment_name(service, version);
        out.push_str(&format!(
            "kubectl scale deployment/{name} --replicas={}\n\
             kubectl rollout status deployment/{name} --timeout=5m\n",
            self.scenario.services[service].replicas
        ));
    }

    /// `version` of `service` scaled to zero, and its pods gone.
    fn down(&self, out: &mut String, service: &str, version: &str) {
        out.push_str(&format!(
            "kubectl scale deployment/{} --replicas=0\n\
             kubectl wait --for=delete pod -l {} --timeout=2m\n",
            self.deployment_name(service, version),
            self.pod_selector(service, Some(version))
        ));
    }

    /// The label selector of the pods of `version` of `service` (one Deployment's).
    fn pod_selector(&self, service: &str, version: Option<&str>) -> String {
        format!(
            "deploysim/scenario={},deploysim/service={},deploysim/version={}",
            self.scenario.name,
            service,
            version.unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_whatever_the_versions_are_called() {
        assert_eq!(label(&["shop", "web", "V2.1_rc"]), "shop-web-v2-1-rc");
        let long = "a".repeat(70);
        assert_eq!(label(&["x", &long]).len(), 63);
        assert_eq!(label(&["x-", "-"]), "x");
    }
}
