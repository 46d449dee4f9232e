"""A real Apache Kafka broker in KRaft mode, combined broker+controller, single node.

Jars come from Maven Central through ``deploy/kafka/pom.xml`` (the version is pinned there) and
are cached under ``.cache/kafka-<version>``; Maven's own ``~/.m2`` caches the downloads too.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from devstack.procs import Proc, port_open, spawn, wait_for

REPO_ROOT = Path(__file__).resolve().parents[4]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J = REPO_ROOT / "deploy" / "kafka" / "log4j2.yaml"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise RuntimeError(f"no kafka.version in {POM}")
    return match.group(1)


def cache_dir() -> Path:
    return Path(os.environ.get("BOOKING_CACHE_DIR", REPO_ROOT / ".cache"))


def ensure_jars() -> Path:
    """Fetch the broker and its runtime dependencies with Maven, once per version."""
    libs = cache_dir() / f"kafka-{kafka_version()}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is required to fetch the Kafka broker from Maven Central")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Maven did not produce the broker jar in {libs}")
    marker.touch()
    return libs


@dataclass
class KafkaBroker:
    workdir: Path
    port: int
    controller_port: int
    heap: str = "768m"
    _proc: Proc | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _properties(self) -> Path:
        data = self.workdir / "data"
        props = self.workdir / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.segment.bytes=67108864",
                    "",
                ]
            )
        )
        return props

    def start(self, timeout: float = 120.0) -> None:
        libs = ensure_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        classpath = f"{libs}/*"
        java = shutil.which("java") or "java"
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    f"-Dlog4j2.configurationFile={LOG4J}",
                    "kafka.tools.StorageTool",
                    "format",
                    # One argument: a random id may begin with "-", which is not an option.
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ],
                check=True,
                capture_output=True,
            )
        argv = [
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(props),
        ]
        self._proc = spawn("kafka", argv, log_path=self.workdir / "kafka.log")
        wait_for(lambda: port_open(self.port), timeout, "kafka to listen", proc=self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop(timeout=30)
            self._proc = None

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc = None
