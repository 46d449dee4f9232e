"""The chart's rendered manifests run as containers of the built images: a small, literal stand-in
for a kubelet and for helm's hook order, driven through testcontainers (podman's Docker API).

Taken as rendered, per container: the image, ``command`` (the entrypoint) and ``args``, ``env``
(values, ``secretKeyRef`` and ``configMapKeyRef``, ``optional`` honoured) after ``envFrom``,
volumes (Secret items with their modes and the pod's fsGroup, ``emptyDir`` as a tmpfs), the
security context (user and group, read-only root, capabilities dropped, no privilege
escalation) and the probes' HTTP paths. Hook Jobs run in weight order to completion before the
Deployments start, as ``helm install`` runs them, and the hook Secrets are gone once they
succeed; a ``test`` hook Pod runs on request, as ``helm test`` runs it.

What must differ, because every container shares the host's network: a Service's name
resolves to 127.0.0.1 (an /etc/hosts entry), and the processes that in a cluster each have an
address of their own but share a port (every worker's ``ops.port``) get a free port each: their
``<SERVICE>_OPS_PORT``, probes and Service port move with it, and any ``<service>:<port>``
address in another container's environment is rewritten to match. Replicas are one.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from testcontainers.core.container import DockerContainer

from devstack.procs import free_ports, port_open

HELM = Path(__file__).resolve().parents[2] / ".cache" / "helm-v3.16.3" / "helm"
CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "booking-platform"


def render(values: Mapping[str, Any], workdir: Path, release: str = "bp") -> list[dict]:
    """``helm template`` of the chart with ``values``: its objects, hooks included."""
    values_file = workdir / "values.yaml"
    values_file.write_text(yaml.safe_dump(dict(values)))
    argv = [str(HELM), "template", release, str(CHART), "--namespace", "booking"]
    argv += ["--kube-version", "1.31.0", "-f", str(values_file)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


class PodFailed(AssertionError):
    """A hook, a test pod or a container's configuration failed, as the kubelet would report."""


@dataclass
class Pod:
    name: str
    spec: dict
    labels: dict[str, str]
    container: DockerContainer | None = None
    ports: dict[int, int] = field(default_factory=dict)  # rendered port -> the one it listens on
    seconds: float = 0.0


def _hook(obj: dict) -> tuple[str, int] | None:
    annotations = obj["metadata"].get("annotations") or {}
    if "helm.sh/hook" not in annotations:
        return None
    return annotations["helm.sh/hook"], int(annotations.get("helm.sh/hook-weight", "0"))


class Cluster:
    """One release's objects, run on this host. ``secrets`` are the operator's own (the
    Secrets a values file names but the chart does not make)."""

    def __init__(
        self, objects: Iterable[dict], workdir: Path, secrets: Mapping[str, Mapping[str, str]]
    ) -> None:
        self.objects = list(objects)
        self.workdir = workdir
        self.secrets: dict[str, dict[str, bytes]] = {
            name: {k: v.encode() for k, v in data.items()} for name, data in secrets.items()
        }
        self.config_maps: dict[str, dict[str, str]] = {}
        self.pods: list[Pod] = []
        self.hook_secrets: list[str] = []
        self.hosts: dict[str, str] = {}
        self.addresses: dict[str, str] = {}  # "<service>:<port>" in a cluster -> here
        for obj in self.objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            if kind == "Secret":
                data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
                data |= {k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()}
                self.secrets[name] = data
                if _hook(obj):
                    self.hook_secrets.append(name)
            elif kind == "ConfigMap":
                self.config_maps[name] = {k: str(v) for k, v in (obj.get("data") or {}).items()}
            elif kind == "Service":
                self.hosts[name] = "127.0.0.1"

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    # -- configuration, as the kubelet resolves it ---------------------------------------------

    def _secret_value(self, ref: dict) -> str | None:
        data = self.secrets.get(ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise PodFailed(f"CreateContainerConfigError: secret {ref['name']}/{ref['key']}")
        return data[ref["key"]].decode()

    def _env(self, container: dict) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                env |= self.config_maps[source["configMapRef"]["name"]]
            if "secretRef" in source:
                data = self.secrets[source["secretRef"]["name"]]
                env |= {k: v.decode() for k, v in data.items()}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            ref = item["valueFrom"]
            if "secretKeyRef" in ref:
                value = self._secret_value(ref["secretKeyRef"])
            else:
                cm = ref["configMapKeyRef"]
                value = self.config_maps.get(cm["name"], {}).get(cm["key"])
            if value is not None:
                env[item["name"]] = value
        return env

    def _volumes(self, pod: Pod) -> dict[str, Path | None]:
        """Each volume's files on this host (None: an emptyDir, mounted as a tmpfs)."""
        spec = pod.spec
        group = (spec.get("securityContext") or {}).get("fsGroup")
        made: dict[str, Path | None] = {}
        for volume in spec.get("volumes") or []:
            if "emptyDir" in volume:
                made[volume["name"]] = None
                continue
            source = volume["secret"]
            data = self.secrets.get(source["secretName"])
            if data is None:
                raise PodFailed(f"FailedMount: secret {source['secretName']} not found")
            root = self.workdir / "volumes" / pod.name / volume["name"]
            root.mkdir(parents=True, exist_ok=True)
            root.chmod(0o755)
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    raise PodFailed(f"FailedMount: {source['secretName']} has no {item['key']}")
                path = root / item["path"]
                path.write_bytes(data[item["key"]])
                path.chmod(item.get("mode", source.get("defaultMode", 0o644)))
                if group is not None:
                    import os

                    os.chown(path, 0, group)
            made[volume["name"]] = root
        return made

    # -- running -------------------------------------------------------------------------------

    def _pod(self, name: str, template: dict) -> Pod:
        return Pod(name, template["spec"], (template.get("metadata") or {}).get("labels") or {})

    def _start(self, pod: Pod, port_env: Mapping[str, str] | None = None) -> None:
        (container,) = pod.spec["containers"]
        env = self._env(container) | dict(port_env or {})
        for name, value in env.items():
            for there, here in self.addresses.items():
                value = value.replace(there, here)
            env[name] = value
        pod_security = pod.spec.get("securityContext") or {}
        security = {**pod_security, **(container.get("securityContext") or {})}
        kwargs: dict[str, Any] = {
            "entrypoint": container.get("command"),
            "network_mode": "host",
            "extra_hosts": self.hosts,
            "cap_drop": (security.get("capabilities") or {}).get("drop") or [],
            "read_only": bool(security.get("readOnlyRootFilesystem")),
        }
        if "runAsUser" in security:
            kwargs["user"] = f"{security['runAsUser']}:{security.get('runAsGroup', 0)}"
        if pod_security.get("fsGroup") is not None:
            kwargs["group_add"] = [str(pod_security["fsGroup"])]
        if security.get("allowPrivilegeEscalation") is False:
            kwargs["security_opt"] = ["no-new-privileges"]
        c = DockerContainer(container["image"]).with_kwargs(**kwargs)
        # A command without args runs alone (the image's CMD is not appended), as in a pod.
        c.with_command(container.get("args") or [])
        for k, v in env.items():
            c.with_env(k, v)
        volumes = self._volumes(pod)
        for mount in container.get("volumeMounts") or []:
            host = volumes[mount["name"]]
            if host is None:
                c.with_tmpfs_mount(mount["mountPath"], "size=64m")
            else:
                c.with_volume_mapping(str(host), mount["mountPath"], "ro")
        pod.container = c
        self.pods.append(pod)
        c.start()

    def run_to_completion(self, pod: Pod, timeout: float) -> str:
        started = time.monotonic()
        self._start(pod)
        assert pod.container is not None
        result = pod.container.get_wrapped_container().wait(timeout=timeout)
        pod.seconds = time.monotonic() - started
        out, err = pod.container.get_logs()
        logs = (out + err).decode(errors="replace")
        if result["StatusCode"] != 0:
            raise PodFailed(f"{pod.name} exited {result['StatusCode']}:\n{logs[-3000:]}")
        return logs

    def install_hooks(self, timeout: float = 300) -> dict[str, float]:
        """The pre-install hook Jobs, by weight (then name, as helm orders them); the hook
        Secrets are deleted once every hook succeeded. Returns each Job's seconds."""
        jobs = [j for j in self.of_kind("Job") if "pre-install" in (_hook(j) or ("", 0))[0]]
        jobs.sort(key=lambda j: ((_hook(j) or ("", 0))[1], j["metadata"]["name"]))
        took = {}
        for job in jobs:
            name = job["metadata"]["name"]
            pod = self._pod(name, job["spec"]["template"])
            self.run_to_completion(pod, timeout)
            took[name] = pod.seconds
        for name in self.hook_secrets:
            del self.secrets[name]
        return took

    def start_deployments(self) -> None:
        """Every Deployment as one container. Ports that two of them would share on this host
        move to free ones (see the module's docstring)."""
        deployments = self.of_kind("Deployment")
        used: set[int] = set()
        plans: list[tuple[Pod, dict[str, str]]] = []
        for deployment in deployments:
            pod = self._pod(deployment["metadata"]["name"], deployment["spec"]["template"])
            (container,) = pod.spec["containers"]
            for port in container.get("ports") or []:
                wanted = port["containerPort"]
                pod.ports[wanted] = wanted if wanted not in used else free_ports(1)[0]
                used.add(pod.ports[wanted])
            port_env = {}
            moved = {a: b for a, b in pod.ports.items() if a != b}
            if moved:
                env = self._env(container)
                port_env = {
                    k: str(moved[int(v)])
                    for k, v in env.items()
                    if k.endswith("_PORT") and v.isdigit() and int(v) in moved
                }
                for service in self._services_of(pod):
                    for there, here in moved.items():
                        self.addresses[f"{service}:{there}"] = f"{service}:{here}"
            plans.append((pod, port_env))
        for pod, port_env in plans:
            self._start(pod, port_env)

    def _services_of(self, pod: Pod) -> list[str]:
        return [
            s["metadata"]["name"]
            for s in self.of_kind("Service")
            if all(pod.labels.get(k) == v for k, v in s["spec"]["selector"].items())
        ]

    def probes(self) -> list[tuple[str, str, int, str]]:
        """(pod, probe kind, port here, path) of every HTTP probe of the running pods."""
        found = []
        for pod in self.pods:
            (container,) = pod.spec["containers"]
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = (container.get(kind) or {}).get("httpGet")
                if get:
                    port = pod.ports.get(get["port"], get["port"])
                    found.append((pod.name, kind, port, get["path"]))
        return found

    def wait_probes(self, timeout: float = 180) -> dict[str, float]:
        """Until every probe answers 200; returns each pod's seconds until all of its did."""
        started = time.monotonic()
        pending = self.probes()
        done: dict[str, float] = {}
        last: dict[tuple, str] = {}
        with httpx.Client(timeout=3) as http:
            while pending:
                for probe in list(pending):
                    name, _, port, path = probe
                    try:
                        status = http.get(f"http://127.0.0.1:{port}{path}").status_code
                    except httpx.HTTPError as exc:
                        last[probe] = type(exc).__name__
                        continue
                    last[probe] = f"HTTP {status}"
                    if status == 200:
                        pending.remove(probe)
                        if not any(p[0] == name for p in pending):
                            done[name] = time.monotonic() - started
                if pending and time.monotonic() - started > timeout:
                    raise PodFailed(
                        "probes failing: "
                        + ", ".join(f"{p[0]} {p[1]} {p[3]}: {last.get(p)}" for p in pending)
                        + "\n"
                        + self.logs()
                    )
                if pending:
                    self._check_alive()
                    time.sleep(0.5)
        return done

    def _check_alive(self) -> None:
        for pod in self.pods:
            if pod.container is None:
                continue
            wrapped = pod.container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status == "exited" and pod.spec.get("restartPolicy") != "Never":
                out, err = pod.container.get_logs()
                tail = (out + err).decode(errors="replace")[-3000:]
                raise PodFailed(f"{pod.name} exited (CrashLoopBackOff):\n{tail}")

    def run_test_hooks(self, timeout: float = 300) -> dict[str, str]:
        """``helm test``: each Pod with the test hook, to completion; returns their output."""
        outputs = {}
        for obj in self.of_kind("Pod"):
            if (_hook(obj) or ("", 0))[0] == "test":
                pod = self._pod(obj["metadata"]["name"], obj)
                outputs[pod.name] = self.run_to_completion(pod, timeout)
        return outputs

    def exec(self, deployment: str, argv: list[str]) -> tuple[int, str]:
        """``kubectl exec deploy/<name> -- argv``."""
        (pod,) = [p for p in self.pods if p.name == deployment]
        assert pod.container is not None
        code, output = pod.container.get_wrapped_container().exec_run(argv)
        return int(code), output.decode(errors="replace")

    def logs(self, limit: int = 1500) -> str:
        parts = []
        for pod in self.pods:
            if pod.container is not None and pod.container.get_wrapped_container() is not None:
                out, err = pod.container.get_logs()
                parts.append(f"--- {pod.name}\n{(out + err).decode(errors='replace')[-limit:]}")
        return "\n".join(parts)

    def delete(self) -> None:
        """Every container this cluster started (there is no reaper: Ryuk is off)."""
        for pod in self.pods:
            if pod.container is not None:
                with contextlib.suppress(Exception):  # already gone is fine
                    pod.container.stop()
        self.pods.clear()


def ports_taken(ports: Iterable[int]) -> list[int]:
    """Those of ``ports`` that something already listens on."""
    return [p for p in ports if port_open(p)]
