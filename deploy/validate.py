#!/usr/bin/env python3
"""Static checks of the deployment files under deploy/.

    python3 deploy/validate.py [DEPLOY_DIR] [--repo REPO_ROOT]

Needs Python 3.8+ and PyYAML (pip install pyyaml). Prints one line per check (PASS, FAIL,
SKIP, or NOTE for information) and exits 1 if any check failed, 2 if it could not run.

What it checks:
  - every *.yaml / *.yml parses (all documents of multi-document files);
  - Kubernetes objects (deploy/k8s): apiVersion, kind, metadata.name, a namespace on namespaced
    kinds; workloads' selectors match their pod template labels; containers have a name and
    an image; probe ports are container ports (by name or number); volume mounts and secret
    references resolve; pods run as non-root; Services select a workload and target ports it
    has; the StatefulSet's serviceName is a headless Service; autoscalers target a workload;
    kustomization.yaml lists existing files (and renders, when kubectl is installed);
  - compose.yaml: services scheduler and trainer, the trainer scalable (no container_name, no
    fixed host ports), secrets only from the environment as ${VAR:?message}, the health check
    the trainer waits on, the grace period;
  - the Dockerfile: at least two stages, COPY --from names an earlier stage, the final stage
    runs as a non-root USER, exposes 50051, 8080 and 9464, has a CMD; its .dockerignore drops target/;
  - systemd units: required sections and keys, hardening, `systemd-analyze verify` when that
    command exists;
  - SLURM batch scripts (slurm/*.sbatch): bash parses them, every #SBATCH directive comes before
    the first command (sbatch reads no further), cores per task and an early SIGTERM to the batch
    shell are asked for, and the script execs the trainer (so SLURM's signals reach it);
  - against the Rust sources (when the repository is found): every SKIPPY_* / ADMIN_SECRET
    variable and every --flag given to a skippy binary in these files is one the binaries read.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("FAIL  setup: PyYAML is not installed (pip install pyyaml)")
    sys.exit(2)


# --------------------------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self):
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0, "NOTE": 0}

    def _line(self, status, area, what, detail=None):
        self.counts[status] += 1
        text = f"{status:<5} {area}: {what}"
        if detail:
            text += f" -- {detail}"
        print(text)

    def check(self, ok, area, what, detail=None):
        """One check; `detail` is printed only when it fails."""
        self._line("PASS" if ok else "FAIL", area, what, None if ok else detail)
        return ok

    def fail(self, area, what, detail=None):
        self._line("FAIL", area, what, detail)

    def skip(self, area, what, why):
        self._line("SKIP", area, what, why)

    def note(self, area, what):
        self._line("NOTE", area, what)


# --------------------------------------------------------------------------------------------
# YAML

# Kinds that are not namespaced (anything else is treated as namespaced).
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole",
    "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "IngressClass",
    "RuntimeClass", "CSIDriver", "CSINode", "VolumeAttachment", "APIService",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ClusterTriggerAuthentication", "ClusterIssuer",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
COMPOSE_NAMES = {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}


def load_yaml_files(root, report):
    """{relative path: [documents]} for every YAML file under root (None if it did not parse)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            try:
                with open(path, encoding="utf-8") as f:
                    docs = [d for d in yaml.safe_load_all(f) if d is not None]
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                report.fail("yaml", f"{rel} parses", str(e).replace("\n", " "))
                out[rel] = None
                continue
            report.check(True, "yaml", f"{rel} parses ({len(docs)} document{'s' * (len(docs) != 1)})")
            out[rel] = docs
    if not out:
        report.fail("yaml", "YAML files found under " + root, "none")
    return out


def get(obj, *keys, default=None):
    """obj[k1][k2]... or default when any step is missing or not a mapping/list."""
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


# --------------------------------------------------------------------------------------------
# Kubernetes


def obj_id(o):
    return f"{o.get('kind', '?')}/{get(o, 'metadata', 'name', default='?')}"


def pod_spec(o):
    return get(o, "spec", "template", "spec", default={}) or {}


def pod_labels(o):
    return get(o, "spec", "template", "metadata", "labels", default={}) or {}


def containers_of(o):
    spec = pod_spec(o)
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def container_ports(o):
    names, numbers = set(), set()
    for c in containers_of(o):
        for p in c.get("ports") or []:
            if "name" in p:
                names.add(p["name"])
            if "containerPort" in p:
                numbers.add(p["containerPort"])
    return names, numbers


def port_known(port, names, numbers):
    if isinstance(port, int):
        return port in numbers
    if isinstance(port, str) and port.isdigit():
        return int(port) in numbers
    return port in names


def check_k8s(files, report):
    """Checks every object of the YAML files under k8s/ (kustomization.yaml apart)."""
    objects = []  # (file, object)
    kustomizations = []
    for rel, docs in files.items():
        if docs is None or not rel.replace(os.sep, "/").startswith("k8s/"):
            continue
        for d in docs:
            if not isinstance(d, dict):
                report.fail("k8s", f"{rel}: document is a mapping", f"got {type(d).__name__}")
                continue
            if d.get("kind") == "Kustomization" or os.path.basename(rel) in (
                    "kustomization.yaml", "kustomization.yml"):
                kustomizations.append((rel, d))
            else:
                objects.append((rel, d))
    if not objects:
        report.skip("k8s", "Kubernetes objects", "no YAML under k8s/")
        return

    # Identity.
    for rel, o in objects:
        what = f"{rel} {obj_id(o)}"
        missing = [k for k in ("apiVersion", "kind") if not isinstance(o.get(k), str) or not o.get(k)]
        name = get(o, "metadata", "name")
        if not isinstance(name, str) or not name:
            missing.append("metadata.name")
        report.check(not missing, "k8s", f"{what} has apiVersion, kind, metadata.name",
                     "missing " + ", ".join(missing))
        if o.get("kind") and o.get("kind") not in CLUSTER_SCOPED:
            report.check(bool(get(o, "metadata", "namespace")), "k8s",
                         f"{what} is namespaced and names its namespace", "metadata.namespace missing")

    def ns(o):
        return get(o, "metadata", "namespace", default="default")

    by_kind = {}
    for _, o in objects:
        by_kind.setdefault(o.get("kind"), []).append(o)
    workloads = [o for _, o in objects if o.get("kind") in WORKLOADS]
    secrets = {(ns(o), get(o, "metadata", "name")): set((o.get("data") or {}).keys()) | set(
        (o.get("stringData") or {}).keys()) for o in by_kind.get("Secret", [])}
    configmaps = {(ns(o), get(o, "metadata", "name")): set((o.get("data") or {}).keys())
                  for o in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])

    # Namespaces used exist (as objects here) - a NOTE only, they may be created elsewhere.
    declared = {get(o, "metadata", "name") for o in by_kind.get("Namespace", [])}
    for n in sorted({ns(o) for _, o in objects if o.get("kind") not in CLUSTER_SCOPED} - declared):
        report.note("k8s", f"namespace {n} is used but not declared here")

    for rel, o in objects:
        if o.get("kind") not in WORKLOADS:
            continue
        what = f"{rel} {obj_id(o)}"
        match = get(o, "spec", "selector", "matchLabels", default={}) or {}
        labels = pod_labels(o)
        ok = bool(match) and all(labels.get(k) == v for k, v in match.items())
        report.check(ok, "k8s", f"{what} selector.matchLabels is a subset of the template labels",
                     f"matchLabels {match} vs labels {labels}")
        spec = pod_spec(o)
        cs = containers_of(o)
        report.check(bool(spec.get("containers")), "k8s", f"{what} has containers", "none")
        for c in cs:
            report.check(bool(c.get("name")) and bool(c.get("image")), "k8s",
                         f"{what} container {c.get('name', '?')} has name and image",
                         f"name={c.get('name')!r} image={c.get('image')!r}")
        names = [c.get("name") for c in cs]
        report.check(len(names) == len(set(names)), "k8s", f"{what} container names are unique", str(names))

        # Probes.
        port_names, port_numbers = container_ports(o)
        for c in cs:
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(probe_kind)
                if not probe:
                    continue
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler not in probe:
                        continue
                    port = get(probe, handler, "port")
                    label = f"{what} {c.get('name')} {probe_kind}.{handler} port {port}"
                    if handler == "grpc" and not isinstance(port, int):
                        report.fail("k8s", label + " is a number", "gRPC probes take a port number only")
                        continue
                    report.check(port_known(port, port_names, port_numbers), "k8s",
                                 label + " is a container port",
                                 f"ports: names {sorted(port_names)}, numbers {sorted(port_numbers)}")

        # Volumes and references.
        volumes = {v.get("name") for v in spec.get("volumes") or []}
        volumes |= {get(t, "metadata", "name") for t in get(o, "spec", "volumeClaimTemplates", default=[]) or []}
        for c in cs:
            for m in c.get("volumeMounts") or []:
                report.check(m.get("name") in volumes, "k8s",
                             f"{what} {c.get('name')} mount {m.get('name')} -> {m.get('mountPath')} has a volume",
                             f"volumes: {sorted(v for v in volumes if v)}")
            for e in c.get("env") or []:
                ref = get(e, "valueFrom", "secretKeyRef")
                if ref:
                    keys = secrets.get((ns(o), ref.get("name")))
                    report.check(keys is not None and ref.get("key") in keys, "k8s",
                                 f"{what} env {e.get('name')} <- Secret {ref.get('name')}/{ref.get('key')} is defined",
                                 "no such Secret or key in these manifests")
                ref = get(e, "valueFrom", "configMapKeyRef")
                if ref:
                    keys = configmaps.get((ns(o), ref.get("name")))
                    report.check(keys is not None and ref.get("key") in keys, "k8s",
                                 f"{what} env {e.get('name')} <- ConfigMap {ref.get('name')}/{ref.get('key')} is defined",
                                 "no such ConfigMap or key in these manifests")

        # Non-root.
        pod_sc = spec.get("securityContext") or {}
        for c in cs:
            sc = c.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            report.check(non_root and uid != 0, "k8s", f"{what} {c.get('name')} runs as non-root",
                         f"runAsNonRoot={non_root}, runAsUser={uid}")

        if o.get("kind") == "StatefulSet":
            svc_name = get(o, "spec", "serviceName")
            svc = [s for s in services if get(s, "metadata", "name") == svc_name and ns(s) == ns(o)]
            headless = bool(svc) and get(svc[0], "spec", "clusterIP") == "None"
            report.check(headless, "k8s", f"{what} serviceName {svc_name} is a headless Service here",
                         "no Service with clusterIP: None by that name")

    # The scheduler owns runs/ alone: never more than one replica.
    for o in by_kind.get("StatefulSet", []) + by_kind.get("Deployment", []):
        if "scheduler" in (get(o, "metadata", "name") or ""):
            replicas = get(o, "spec", "replicas", default=1)
            report.check(replicas == 1, "k8s", f"{obj_id(o)} runs exactly one replica (single owner of runs/)",
                         f"replicas: {replicas}")

    # Services.
    for rel, s in [(r, o) for r, o in objects if o.get("kind") == "Service"]:
        what = f"{rel} {obj_id(s)}"
        selector = get(s, "spec", "selector", default={}) or {}
        if not selector:
            report.note("k8s", f"{what} has no selector (endpoints managed elsewhere)")
            continue
        targets = [w for w in workloads if ns(w) == ns(s)
                   and all(pod_labels(w).get(k) == v for k, v in selector.items())]
        report.check(bool(targets), "k8s", f"{what} selector matches a workload's pod labels",
                     f"selector {selector} matches nothing")
        for p in get(s, "spec", "ports", default=[]) or []:
            target = p.get("targetPort", p.get("port"))
            ok = any(port_known(target, *container_ports(w)) for w in targets)
            report.check(ok, "k8s", f"{what} port {p.get('name', p.get('port'))} targetPort {target} exists",
                         "no selected workload has that container port")

    # Autoscalers.
    def target_exists(ref, namespace):
        kind = (ref or {}).get("kind", "Deployment")
        name = (ref or {}).get("name")
        return any(get(w, "metadata", "name") == name and ns(w) == namespace for w in by_kind.get(kind, []))

    for o in by_kind.get("ScaledObject", []):
        what = obj_id(o)
        ref = get(o, "spec", "scaleTargetRef")
        report.check(target_exists(ref, ns(o)), "k8s", f"{what} scaleTargetRef {ref} is a workload here",
                     "not found")
        lo, hi = get(o, "spec", "minReplicaCount", default=0), get(o, "spec", "maxReplicaCount", default=100)
        report.check(isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi, "k8s",
                     f"{what} minReplicaCount {lo} <= maxReplicaCount {hi}")
        triggers = get(o, "spec", "triggers", default=[]) or []
        report.check(bool(triggers) and all(t.get("type") and t.get("metadata") for t in triggers), "k8s",
                     f"{what} has triggers with type and metadata")
    for o in by_kind.get("HorizontalPodAutoscaler", []):
        ref = get(o, "spec", "scaleTargetRef")
        report.check(target_exists(ref, ns(o)), "k8s", f"{obj_id(o)} scaleTargetRef {ref} is a workload here",
                     "not found")

    # Kustomization.
    k8s_dir = None
    for rel, k in kustomizations:
        base = os.path.dirname(rel)
        k8s_dir = base
        listed = k.get("resources") or []
        for r in listed:
            path = os.path.join(ROOT, base, r)
            report.check(os.path.exists(path), "k8s", f"{rel} resource {r} exists", "missing")
        listed_files = {os.path.normpath(os.path.join(base, r)) for r in listed}
        for rel2, _ in objects:
            if os.path.dirname(rel2) == base and os.path.normpath(rel2) not in listed_files:
                report.note("k8s", f"{rel2} is not in {rel} (applied separately)")
        kubectl = shutil.which("kubectl")
        if kubectl:
            r = subprocess.run([kubectl, "kustomize", os.path.join(ROOT, base)],
                               capture_output=True, text=True, timeout=120)
            ok = r.returncode == 0
            detail = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
            if ok:
                rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
                expected = {obj_id(o) for f, o in objects if os.path.normpath(f) in listed_files}
                got = {obj_id(d) for d in rendered}
                ok = expected == got
                detail = f"rendered {sorted(got)} vs listed {sorted(expected)}"
            report.check(ok, "k8s", f"kubectl kustomize {base} renders the listed objects", detail)
        else:
            report.skip("k8s", f"kubectl kustomize {base}", "kubectl not available")
    if k8s_dir is None:
        report.note("k8s", "no kustomization.yaml")


# --------------------------------------------------------------------------------------------
# Compose

SECRET_VARS = ("ADMIN_SECRET", "SKIPPY_TRAINER_TOKEN")


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v if "=" in str(item) else None
        return out
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def duration_seconds(text):
    total, matched = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)", str(text)):
        matched = True
        total += float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
    return total if matched else None


def check_compose(files, report):
    found = [(rel, docs) for rel, docs in files.items() if os.path.basename(rel) in COMPOSE_NAMES]
    if not found:
        report.fail("compose", "compose.yaml exists", "not found")
        return
    for rel, docs in found:
        if not docs or not isinstance(docs[0], dict):
            report.fail("compose", f"{rel} is a mapping")
            continue
        services = docs[0].get("services") or {}
        for name in ("scheduler", "trainer"):
            report.check(name in services, "compose", f"{rel} has service {name}", "missing")
        sched, trainer = services.get("scheduler") or {}, services.get("trainer") or {}

        # Scaling.
        report.check("container_name" not in trainer, "compose",
                     f"{rel} trainer has no container_name (so --scale trainer=N works)",
                     f"container_name: {trainer.get('container_name')}")
        fixed = [p for p in trainer.get("ports") or [] if ":" in str(p) or isinstance(p, dict) and p.get("published")]
        report.check(not fixed, "compose", f"{rel} trainer publishes no fixed host ports", str(fixed))

        # Secrets: from the environment, refusing to start without them.
        for svc_name, svc in services.items():
            env = compose_env(svc or {})
            for var in SECRET_VARS:
                if var in env:
                    value = env[var] or ""
                    ok = re.fullmatch(r"\$\{" + var + r":\?[^}]+\}", value) is not None
                    report.check(ok, "compose", f"{rel} {svc_name} {var} comes from the environment as ${{{var}:?...}}",
                                 f"value {value!r}")
            for env_file in ([svc.get("env_file")] if isinstance(svc.get("env_file"), str) else svc.get("env_file") or []):
                report.note("compose", f"{rel} {svc_name} reads env_file {env_file}")
        for var in SECRET_VARS:
            report.check(var in compose_env(sched), "compose", f"{rel} scheduler receives {var}", "missing")
        report.check("SKIPPY_TRAINER_TOKEN" in compose_env(trainer), "compose",
                     f"{rel} trainer receives SKIPPY_TRAINER_TOKEN", "missing")
        report.check("ADMIN_SECRET" not in compose_env(trainer), "compose",
                     f"{rel} trainer does not receive ADMIN_SECRET (least privilege)", "present")
        sched_url = compose_env(trainer).get("SKIPPY_SCHEDULER") or ""
        report.check(sched_url.startswith("http://scheduler:"), "compose",
                     f"{rel} trainer reaches the scheduler by service name", f"SKIPPY_SCHEDULER={sched_url!r}")

        # Health and ordering.
        test = get(sched, "healthcheck", "test")
        report.check(bool(test) and test != ["NONE"], "compose", f"{rel} scheduler has a healthcheck", "missing")
        cond = get(trainer, "depends_on", "scheduler", "condition")
        report.check(cond == "service_healthy", "compose", f"{rel} trainer waits for a healthy scheduler",
                     f"depends_on.scheduler.condition: {cond}")
        grace = duration_seconds(trainer.get("stop_grace_period", "10s"))
        report.check(grace is not None and grace >= 60, "compose",
                     f"{rel} trainer stop_grace_period >= 60s (time to hand its job back)",
                     f"{trainer.get('stop_grace_period', '10s (default)')}")
        mounts = [str(v) if not isinstance(v, dict) else f"{v.get('source')}:{v.get('target')}"
                  for v in sched.get("volumes") or []]
        report.check(any(m.split(":")[1:2] == ["/var/lib/skippy/runs"] for m in mounts), "compose",
                     f"{rel} scheduler keeps /var/lib/skippy/runs on a volume", str(mounts))

        # Build context and Dockerfile.
        for svc_name, svc in services.items():
            build = (svc or {}).get("build")
            if isinstance(build, dict):
                ctx = os.path.normpath(os.path.join(ROOT, os.path.dirname(rel), build.get("context", ".")))
                dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
                report.check(os.path.isfile(dockerfile), "compose",
                             f"{rel} {svc_name} build.dockerfile exists ({os.path.relpath(dockerfile, ROOT)})",
                             "missing")

        # The real parser, when Compose v2 is installed (no Docker daemon is needed).
        compose_cmd = find_compose()
        if compose_cmd:
            compose_label = " ".join([os.path.basename(compose_cmd[0])] + compose_cmd[1:])
            path = os.path.join(ROOT, rel)
            # An empty --env-file, so a local deploy/.env cannot mask a missing secret.
            base = compose_cmd + ["--env-file", os.devnull, "-f", path, "config", "--quiet"]
            env = dict(os.environ, ADMIN_SECRET="validate-admin", SKIPPY_TRAINER_TOKEN="validate-trainer")
            r = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
            report.check(r.returncode == 0, "compose", f"{compose_label} config accepts {rel}",
                         r.stderr.strip())
            for var in SECRET_VARS:
                without = {k: v for k, v in env.items() if k != var}
                r = subprocess.run(base, capture_output=True, text=True, env=without, timeout=60)
                report.check(r.returncode != 0 and var in r.stderr, "compose",
                             f"{compose_label} config refuses {rel} without {var}",
                             f"exit {r.returncode}: {r.stderr.strip()}")
        else:
            report.skip("compose", f"docker compose config {rel}", "Docker Compose v2 not available")


def find_compose():
    """The Compose v2 command: the docker CLI plugin, or a standalone docker-compose v2."""
    candidates = []
    if shutil.which("docker"):
        candidates.append([shutil.which("docker"), "compose"])
    if shutil.which("docker-compose"):
        candidates.append([shutil.which("docker-compose")])
    for cmd in candidates:
        try:
            r = subprocess.run(cmd + ["version", "--short"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if r.returncode == 0 and re.match(r"v?([2-9]|\d\d)\.", r.stdout.strip()):
            return cmd
    return None


# --------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions(path):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            stripped = line.strip()
            if stripped.startswith("#") and not pending:
                continue
            if stripped.startswith("#"):
                continue  # comment inside a continued instruction
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            line = pending + line
            pending = ""
            if not line.strip():
                continue
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def check_dockerfile(report):
    path = os.path.join(ROOT, "Dockerfile")
    if not os.path.isfile(path):
        report.fail("docker", "Dockerfile exists", path)
        return None
    ins = dockerfile_instructions(path)
    stages = []  # [(name, [instructions])]
    for word, rest in ins:
        if word == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            stages.append(((m.group(2) or "").lower() if m else "", []))
        elif stages:
            stages[-1][1].append((word, rest))
    report.check(len(stages) >= 2, "docker", f"Dockerfile has >= 2 stages (multi-stage): {len(stages)}")
    for i, (_, body) in enumerate(stages):
        for word, rest in body:
            m = re.search(r"--from=(\S+)", rest) if word == "COPY" else None
            if m:
                ref = m.group(1).lower()
                earlier = {n for n, _ in stages[:i] if n} | {str(j) for j in range(i)}
                report.check(ref in earlier, "docker", f"COPY --from={ref} names an earlier stage",
                             f"earlier stages: {sorted(earlier)}")
    if not stages:
        return None
    final = stages[-1][1]
    users = [rest for word, rest in final if word == "USER"]
    user = users[-1] if users else None
    ok = user is not None and user.split(":")[0] not in ("root", "0")
    report.check(ok, "docker", f"final stage runs as a non-root USER ({user})", "no USER, or root")
    exposed = set()
    for word, rest in final:
        if word == "EXPOSE":
            exposed |= {p.split("/")[0] for p in rest.split()}
    for port in ("50051", "8080", "9464"):
        report.check(port in exposed, "docker", f"final stage EXPOSEs {port}", f"exposed: {sorted(exposed)}")
    cmds = [rest for word, rest in final if word in ("CMD", "ENTRYPOINT")]
    report.check(bool(cmds), "docker", "final stage has a CMD or ENTRYPOINT", "missing")
    built = " ".join(rest for _, body in stages[:-1] for word, rest in body if word == "RUN")
    for binary in ("skippy-scheduler", "skippy-gateway", "skippy-trainer", "skippy-train"):
        report.check(re.search(r"release/" + binary + r"\b", built) is not None, "docker",
                     f"builder copies out {binary}", "not found in the builder's RUN steps")
    if "--locked" in built:
        report.check(True, "docker", "builder builds with --locked")
    else:
        report.fail("docker", "builder builds with --locked", "Cargo.lock not enforced")

    # The build context is the repository root: target/ must stay out of it.
    ignore = os.path.join(ROOT, "Dockerfile.dockerignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8") as f:
            patterns = {ln.strip().rstrip("/") for ln in f if ln.strip() and not ln.startswith("#")}
        report.check("target" in patterns or "**/target" in patterns, "docker",
                     "Dockerfile.dockerignore excludes target/", f"patterns: {sorted(patterns)}")
    else:
        report.fail("docker", "Dockerfile.dockerignore exists (keeps target/ out of the context)", "missing")
    hadolint = shutil.which("hadolint")
    if hadolint:
        r = subprocess.run([hadolint, "--no-color", path], capture_output=True, text=True, timeout=60)
        report.check(r.returncode == 0, "docker", "hadolint Dockerfile",
                     " | ".join((r.stdout + r.stderr).strip().splitlines()))
    else:
        report.skip("docker", "hadolint Dockerfile", "hadolint not available")
    return [json_cmd(rest) for word, rest in final if word in ("CMD", "ENTRYPOINT")]


def json_cmd(rest):
    try:
        import json
        value = json.loads(rest)
        return [str(v) for v in value] if isinstance(value, list) else shlex.split(rest)
    except ValueError:
        return shlex.split(rest)


# --------------------------------------------------------------------------------------------
# systemd


def parse_unit(path):
    """{section: [(key, value)]}, following systemd's syntax (comments, continuations)."""
    sections, current, pending = {}, None, None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending is not None:
                if line.lstrip().startswith(("#", ";")):
                    continue
                pending += " " + line.strip()
                if pending.endswith("\\"):
                    pending = pending[:-1].rstrip()
                    continue
                line, pending = pending, None
            elif line.strip().endswith("\\") and not line.lstrip().startswith(("#", ";")):
                pending = line.strip()[:-1].rstrip()
                continue
            s = line.strip()
            if not s or s.startswith(("#", ";")):
                continue
            if s.startswith("[") and s.endswith("]"):
                current = s[1:-1]
                sections.setdefault(current, [])
                continue
            key, eq, value = s.partition("=")
            if eq and current is not None:
                sections[current].append((key.strip(), value.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def exec_binary(execstart):
    """The program path of an ExecStart= line, without its special prefixes."""
    words = shlex.split(execstart) if execstart else []
    return words[0].lstrip("-@:+!") if words else ""


def check_systemd(report):
    unit_dir = os.path.join(ROOT, "systemd")
    units = sorted(f for f in os.listdir(unit_dir) if f.endswith(".service")) if os.path.isdir(unit_dir) else []
    if not units:
        report.fail("systemd", "unit files under systemd/", "none")
        return []
    commands = []
    for name in units:
        path = os.path.join(unit_dir, name)
        u = parse_unit(path)
        what = f"systemd/{name}"
        for section in ("Unit", "Service", "Install"):
            report.check(section in u, "systemd", f"{what} has [{section}]", "missing")
        report.check(bool(unit_values(u, "Unit", "Description")), "systemd", f"{what} [Unit] Description=", "missing")
        execs = unit_values(u, "Service", "ExecStart")
        binary = exec_binary(execs[-1]) if execs else ""
        report.check(binary.startswith("/"), "systemd", f"{what} [Service] ExecStart= runs an absolute path ({binary})",
                     "missing or relative")
        if execs:
            commands.append((what, shlex.split(execs[-1])))
        report.check(bool(unit_values(u, "Install", "WantedBy")), "systemd", f"{what} [Install] WantedBy=", "missing")
        if "@." in name:
            report.check(any("%i" in e or "%I" in e for e in execs), "systemd",
                         f"{what} is a template whose ExecStart uses the instance (%i)", "no %i in ExecStart")

        def expect(key, predicate, wanted):
            values = unit_values(u, "Service", key)
            value = values[-1] if values else None
            report.check(value is not None and predicate(value), "systemd", f"{what} {key}={wanted}",
                         f"found {value!r}")

        env_files = unit_values(u, "Service", "EnvironmentFile")
        report.check("/etc/skippy/skippy.env" in env_files, "systemd", f"{what} EnvironmentFile=/etc/skippy/skippy.env",
                     f"found {env_files}")
        report.check(bool(unit_values(u, "Service", "User")) or unit_values(u, "Service", "DynamicUser")[-1:] == ["yes"],
                     "systemd", f"{what} runs as User= or DynamicUser=yes, not root", "neither is set")
        expect("Restart", lambda v: v == "on-failure", "on-failure")
        expect("KillSignal", lambda v: v == "SIGTERM", "SIGTERM")
        expect("TimeoutStopSec", lambda v: (duration_seconds(v) or duration_seconds(v + "s") or 0) >= 60, ">= 60")
        expect("NoNewPrivileges", lambda v: v in ("yes", "true", "1"), "yes")
        expect("ProtectSystem", lambda v: v == "strict", "strict")
        expect("ProtectHome", lambda v: v in ("yes", "true", "1", "read-only", "tmpfs"), "yes")
        expect("PrivateTmp", lambda v: v in ("yes", "true", "1"), "yes")
        # Whatever runs dir the unit sets must be writable under ProtectSystem=strict.
        runs = [v.split("=", 1)[1] for e in unit_values(u, "Service", "Environment")
                for v in shlex.split(e) if v.startswith("SKIPPY_RUNS_DIR=")]
        if runs:
            writable = [p for v in unit_values(u, "Service", "ReadWritePaths") for p in v.split()]
            writable += ["/var/lib/" + d for v in unit_values(u, "Service", "StateDirectory") for d in v.split()]
            ok = any(runs[-1] == w or runs[-1].startswith(w.rstrip("/") + "/") for w in writable)
            report.check(ok, "systemd", f"{what} runs dir {runs[-1]} is writable (ReadWritePaths/StateDirectory)",
                         f"writable: {writable}")

    # The example environment file.
    example = os.path.join(unit_dir, "skippy.env.example")
    if os.path.isfile(example):
        with open(example, encoding="utf-8") as f:
            keys = {m.group(1) for m in re.finditer(r"^#?\s*([A-Z][A-Z0-9_]*)=", f.read(), re.M)}
        for var in SECRET_VARS + ("SKIPPY_SCHEDULER",):
            report.check(var in keys, "systemd", f"skippy.env.example documents {var}", "missing")
    else:
        report.fail("systemd", "skippy.env.example exists", "missing")

    verify_units(unit_dir, units, report)
    return commands


def check_slurm(report):
    """Checks slurm/*.sbatch; returns the commands they exec and the variables they use."""
    slurm_dir = os.path.join(ROOT, "slurm")
    scripts = sorted(f for f in os.listdir(slurm_dir) if f.endswith(".sbatch")) if os.path.isdir(slurm_dir) else []
    if not scripts:
        report.fail("slurm", "batch scripts under slurm/", "none")
        return [], []
    commands, env_names = [], []
    for name in scripts:
        path = os.path.join(slurm_dir, name)
        what = f"slurm/{name}"
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = text.splitlines()
        report.check(bool(lines) and lines[0].startswith("#!") and "bash" in lines[0], "slurm",
                     f"{what} starts with a bash #! line", f"found {lines[:1]}")
        if shutil.which("bash"):
            parsed = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
            report.check(parsed.returncode == 0, "slurm", f"{what} parses (bash -n)", parsed.stderr.strip())
        else:
            report.skip("slurm", f"{what} parses (bash -n)", "bash not available")
        first_command = next((i for i, line in enumerate(lines[1:], 1)
                              if line.strip() and not line.lstrip().startswith("#")), len(lines))
        late = [i + 1 for i, line in enumerate(lines) if line.startswith("#SBATCH") and i > first_command]
        report.check(not late, "slurm", f"{what}: every #SBATCH directive comes before the first command",
                     f"sbatch ignores those on lines {late}")
        directives = [line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
                      for line in lines[:first_command] if line.startswith("#SBATCH")]
        report.check(any(d.startswith("--cpus-per-task=") for d in directives), "slurm",
                     f"{what} asks for cores per task (--cpus-per-task)", f"directives: {directives}")
        report.check(any(d.startswith("--signal=B:TERM@") for d in directives), "slurm",
                     f"{what} asks for SIGTERM to the batch shell before the time limit (--signal=B:TERM@...)",
                     f"directives: {directives}")
        # The exec line with its continuations: the trainer replaces the shell.
        joined = re.sub(r"\\\n\s*", " ", text)
        execs = [line.strip() for line in joined.splitlines() if line.strip().startswith("exec ")]
        report.check(len(execs) == 1, "slurm", f"{what} execs the trainer (one exec line)", f"found {execs}")
        if execs:
            argv = shlex.split(execs[0])[1:]
            commands.append((what, ["skippy-trainer"] + argv[1:]))
        env_names += [(what, v) for v in sorted(set(re.findall(r"\b(SKIPPY_[A-Z0-9_]+|ADMIN_SECRET)\b", text)))]
    return commands, env_names


def verify_units(unit_dir, units, report):
    """systemd-analyze verify, in a scratch root holding the units, stub binaries and the
    system's own units, so that missing /usr/local/bin binaries on this machine are no error."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        report.skip("systemd", "systemd-analyze verify", "systemd-analyze not available")
        return
    system_units = next((d for d in ("/usr/lib/systemd/system", "/lib/systemd/system") if os.path.isdir(d)), None)
    with tempfile.TemporaryDirectory(prefix="skippy-verify-") as root:
        os.makedirs(os.path.join(root, "etc/systemd/system"))
        if system_units:
            shutil.copytree(system_units, os.path.join(root, "usr/lib/systemd/system"), symlinks=True)
        names = []
        for name in units:
            shutil.copy(os.path.join(unit_dir, name), os.path.join(root, "etc/systemd/system", name))
            names.append(name.replace("@.", "@validate."))
            for e in unit_values(parse_unit(os.path.join(unit_dir, name)), "Service", "ExecStart"):
                binary = exec_binary(e)
                if binary.startswith("/"):
                    stub = os.path.join(root, binary.lstrip("/"))
                    os.makedirs(os.path.dirname(stub), exist_ok=True)
                    with open(stub, "w") as f:
                        f.write("#!/bin/sh\n")
                    os.chmod(stub, 0o755)
        if system_units:
            cmd = [analyze, "--root=" + root, "verify"] + names
        else:  # no system units to lean on: verify the files in place
            cmd = [analyze, "verify"] + [os.path.join(unit_dir, n) for n in units]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        # verify exits 0 on many problems (unknown keys, bad values): any message is a failure.
        messages = [ln.replace(root, "") for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        if not system_units:
            messages = [m for m in messages if "is not executable" not in m]
        report.check(r.returncode == 0 and not messages, "systemd",
                     f"systemd-analyze verify {' '.join(names)}", " | ".join(messages) or f"exit {r.returncode}")


# --------------------------------------------------------------------------------------------
# Consistency with the Rust sources

CRATE_OF_BINARY = {
    "skippy-scheduler": "scheduler", "skippy-gateway": "scheduler",
    "skippy-trainer": "trainer", "skippy-train": "cli",
}
OTHER_ENV = {"RUST_LOG", "RUST_BACKTRACE"}
# Read by the SLURM batch script itself, not by a binary.
SCRIPT_ENV = {"SKIPPY_TRAINER_BIN", "SKIPPY_TRAINER_TOKEN_FILE"}


def source_interface(repo):
    """({crate: set of --flags}, set of environment variables) declared with clap in the sources."""
    flags, envs = {}, set()
    for crate in set(CRATE_OF_BINARY.values()):
        found = set()
        for dirpath, _, filenames in os.walk(os.path.join(repo, crate, "src")):
            for name in filenames:
                if not name.endswith(".rs"):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    text = f.read()
                envs |= set(re.findall(r'\benv\s*=\s*"([A-Z][A-Z0-9_]*)"', text))
                for attr, field in re.findall(r"#\[arg\((.*?)\)\]\s*(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:", text, re.S):
                    m = re.search(r'\blong\s*=\s*"([^"]+)"', attr)
                    if m:
                        found.add("--" + m.group(1))
                    elif re.search(r"\blong\b", attr):
                        found.add("--" + field.replace("_", "-"))
        flags[crate] = found | {"--help", "--version"}
    return flags, envs


def check_sources(repo, files, docker_cmds, unit_cmds, report, script_env=()):
    if not repo or not all(os.path.isdir(os.path.join(repo, c, "src")) for c in set(CRATE_OF_BINARY.values())):
        report.skip("sources", "flags and variables against the Rust sources", "repository sources not found")
        return
    flags, envs = source_interface(repo)
    report.check(bool(envs) and all(flags.values()), "sources", "clap flags and variables found in the sources",
                 "none found")

    commands = []  # (where, argv)
    env_names = []  # (where, name)
    compose = [(r, d) for r, d in files.items() if os.path.basename(r) in COMPOSE_NAMES and d]
    for rel, docs in compose:
        for svc_name, svc in (docs[0].get("services") or {}).items():
            cmd = (svc or {}).get("command")
            if cmd:
                commands.append((f"{rel} {svc_name}", cmd if isinstance(cmd, list) else shlex.split(cmd)))
            env_names += [(f"{rel} {svc_name}", k) for k in compose_env(svc or {})]
    for rel, docs in files.items():
        if not docs or not rel.replace(os.sep, "/").startswith("k8s/"):
            continue
        for o in docs:
            if isinstance(o, dict) and o.get("kind") in WORKLOADS:
                for c in containers_of(o):
                    argv = [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
                    if argv:
                        commands.append((f"{rel} {c.get('name')}", argv))
                    env_names += [(f"{rel} {c.get('name')}", e.get("name")) for e in c.get("env") or []]
    commands += [("Dockerfile CMD", c) for c in docker_cmds or []]
    commands += unit_cmds
    unit_dir = os.path.join(ROOT, "systemd")
    for name in sorted(os.listdir(unit_dir)) if os.path.isdir(unit_dir) else []:
        path = os.path.join(unit_dir, name)
        if name.endswith(".service"):
            for e in unit_values(parse_unit(path), "Service", "Environment"):
                env_names += [(f"systemd/{name}", v.split("=", 1)[0]) for v in shlex.split(e)]
        elif name.endswith(".env.example"):
            with open(path, encoding="utf-8") as f:
                env_names += [(f"systemd/{name}", m.group(1))
                              for m in re.finditer(r"^#?\s*([A-Z][A-Z0-9_]*)=", f.read(), re.M)]

    env_names += list(script_env)
    for where, argv in commands:
        if not argv:
            continue
        binary = os.path.basename(argv[0])
        crate = CRATE_OF_BINARY.get(binary)
        if crate is None:
            report.note("sources", f"{where}: {binary} is not a skippy binary, flags not checked")
            continue
        used = [a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")]
        unknown = [f for f in used if f not in flags[crate]]
        report.check(not unknown, "sources", f"{where}: {binary} knows its flags {' '.join(used) or '(none)'}",
                     f"unknown: {unknown}")
    seen = {}
    for where, name in env_names:
        if name and (name.startswith("SKIPPY_") or name == "ADMIN_SECRET"):
            seen.setdefault(where, []).append(name)
    for where, names in seen.items():
        unknown = sorted({n for n in names if n not in envs and n not in OTHER_ENV and n not in SCRIPT_ENV})
        report.check(not unknown, "sources", f"{where}: the binaries read {', '.join(sorted(set(names)))}",
                     f"not read by any binary: {unknown}")


# --------------------------------------------------------------------------------------------

ROOT = None


def main():
    global ROOT
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("deploy_dir", nargs="?", default=here, help="the deploy directory (default: this script's)")
    parser.add_argument("--repo", help="repository root with the Rust sources (default: the deploy directory's parent)")
    args = parser.parse_args()
    ROOT = os.path.abspath(args.deploy_dir)
    repo = os.path.abspath(args.repo) if args.repo else os.path.dirname(ROOT)
    report = Report()
    print(f"validating {ROOT}")

    files = load_yaml_files(ROOT, report)
    check_k8s(files, report)
    check_compose(files, report)
    docker_cmds = check_dockerfile(report)
    unit_cmds = check_systemd(report)
    slurm_cmds, slurm_env = check_slurm(report)
    check_sources(repo, files, docker_cmds, unit_cmds + slurm_cmds, report, slurm_env)

    c = report.counts
    print(f"\n{c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped ({c['NOTE']} notes)")
    return 1 if c["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
