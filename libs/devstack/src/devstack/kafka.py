"""A real Apache Kafka broker in KRaft mode, combined broker+controller, single node.

With ``secured`` (the local platform's default) its one client listener is SASL_SSL: TLS with a
certificate of the platform's own CA (devstack.tls), SCRAM-SHA-512 users for every service
(made when the storage is formatted) and PLAIN for the admin, a super user, and OAUTHBEARER
tokens of a stand-in identity provider whose key the broker's directory keeps (``oauth_token``);
a client certificate, when one is presented, must be of the same CA. The StandardAuthorizer
allows nothing that no ACL allows (messaging.acls). The controller listener (loopback) takes the
admin only, over PLAIN.

Jars come from Maven Central through ``deploy/kafka/pom.xml`` (the version is pinned there) and
are cached under ``.cache/kafka-<version>``; Maven's own ``~/.m2`` caches the downloads too.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from devstack.procs import Proc, free_ports, port_open, spawn, wait_for
from devstack.tls import LocalCA
from messaging.security import KafkaSecurity

if TYPE_CHECKING:
    from devstack.images import InfraContainer

ADMIN = "admin"
OAUTH_ISSUER = "booking-platform-kafka-idp"
OAUTH_AUDIENCE = "kafka"
OAUTH_KID = "kafka-idp-1"
BROKER_JWT_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.BrokerJwtValidator"
# A principal that may connect and is allowed nothing: the ACL tests' intruder.
NOBODY = "nobody"

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
    print(
        f"fetching the Kafka {kafka_version()} broker and its libraries from Maven Central "
        f"into {libs} (once)",
        file=sys.stderr,
        flush=True,
    )
    subprocess.run(
        [
            "mvn",
            "-B",
            # Each artifact as it arrives (size and speed), nothing else of Maven's.
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dorg.slf4j.simpleLogger.log.org.apache.maven.cli.transfer=info",
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


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaBroker:
    workdir: Path
    port: int
    controller_port: int
    heap: str = "768m"
    # SASL_SSL with ACLs: the CA signing its certificate, and the principals besides the admin.
    ca: LocalCA | None = None
    principals: tuple[str, ...] = ()
    # A node of a cluster (KafkaCluster): its id, every controller (``id@host:port``, comma
    # separated; default: this node alone), the cluster's id and its replication factor.
    node_id: int = 1
    voters: str | None = None
    cluster_id: str | None = None
    replicas: int = 1
    # Where the principals' passwords and the identity provider's key are kept: the cluster's
    # directory, for every node alike (default: this broker's own).
    secrets_dir: Path | None = None
    # In a container of the infra image (devstack.images, PLATFORM_INFRA=containers), not as a
    # process of this machine's Java.
    container: bool = False
    _proc: Proc | None = field(default=None, repr=False)

    @property
    def secured(self) -> bool:
        return self.ca is not None

    @property
    def _secrets(self) -> Path:
        return self.secrets_dir or self.workdir

    def passwords(self) -> dict[str, str]:
        """Every principal's password, made once and kept beside the broker's data (0600)."""
        path = self._secrets / "principals.json"
        known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = (ADMIN, NOBODY, *self.principals)
        if any(p not in known for p in wanted):
            known |= {p: secrets.token_urlsafe(24) for p in wanted if p not in known}
            self._secrets.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known))
            path.chmod(0o600)
        return known

    def oauth_key(self) -> RSAPrivateKey:
        """The key of the broker's stand-in identity provider (OAUTHBEARER tokens are checked
        against its public half), made once and kept beside the broker's data (0600)."""
        path = self._secrets / "oauth-issuer.pem"
        if not path.exists():
            self._secrets.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, RSAPrivateKey)
        return loaded

    def oauth_token(
        self, principal: str, ttl_s: int = 300, key: RSAPrivateKey | None = None
    ) -> str:
        """An OAUTHBEARER access token for ``principal`` (its ``sub``), as an identity provider
        would issue it; signed with ``key`` instead, one the broker must refuse."""
        signer = key or self.oauth_key()
        now = int(time.time())
        claims = {
            "iss": OAUTH_ISSUER,
            "aud": OAUTH_AUDIENCE,
            "sub": principal,
            "iat": now,
            "exp": now + ttl_s,
            "scope": "kafka",
        }
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": OAUTH_KID})

    def _oauth_jwks(self) -> Path:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.oauth_key().public_key()))
        public.update({"kid": OAUTH_KID, "alg": "RS256", "use": "sig"})
        path = self.workdir / "oauth-jwks.json"
        path.write_text(json.dumps({"keys": [public]}))
        return path

    def security(self, principal: str = ADMIN) -> KafkaSecurity:
        """How ``principal`` connects (the admin over PLAIN, the others over SCRAM-SHA-512)."""
        if self.ca is None:
            return KafkaSecurity()
        return KafkaSecurity(
            protocol="SASL_SSL",
            mechanism="PLAIN" if principal == ADMIN else "SCRAM-SHA-512",
            username=principal,
            password=self.passwords()[principal],
            ca_file=str(self.ca.cert),
        )

    def client_env(self, principal: str) -> dict[str, str]:
        """The KAFKA_* variables a process of ``principal`` is started with."""
        s = self.security(principal)
        if not s.sasl:
            return {}
        return {
            "KAFKA_SECURITY_PROTOCOL": s.protocol,
            "KAFKA_SASL_MECHANISM": s.mechanism,
            "KAFKA_SASL_USERNAME": s.username or "",
            "KAFKA_SASL_PASSWORD": s.password or "",
            "KAFKA_SSL_CA_FILE": s.ca_file or "",
        }

    def _secured_properties(self) -> list[str]:
        assert self.ca is not None
        issued = self.ca.issue("kafka-broker", peer=True)
        keystore = self.workdir / "broker.pem"
        keystore.write_bytes(issued.key.read_bytes() + issued.cert.read_bytes())
        keystore.chmod(0o600)
        admin = self.passwords()[ADMIN]
        plain = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN}" password="{admin}" user_{ADMIN}="{admin}";'
        )
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        bearer = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        validator = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
        )
        bearer_at = "listener.name.sasl_ssl.oauthbearer."
        return [
            f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            f"listener.name.controller.plain.sasl.jaas.config={plain}",
            f"listener.name.sasl_ssl.plain.sasl.jaas.config={plain}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={scram}",
            f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={scram}",
            # OAUTHBEARER: tokens signed by the stand-in identity provider (oauth_token), checked
            # against its JWKS (signature, expiry, audience, issuer); the principal is ``sub``.
            f"{bearer_at}sasl.jaas.config={bearer}",
            f"{bearer_at}sasl.server.callback.handler.class={validator}",
            # Named, not left to the default: Kafka 4.1's default validator, built without a
            # key resolver, checks a token's claims but not its signature.
            f"sasl.oauthbearer.jwt.validator.class={BROKER_JWT_VALIDATOR}",
            f"{bearer_at}sasl.oauthbearer.jwks.endpoint.url={self._oauth_jwks().as_uri()}",
            f"{bearer_at}sasl.oauthbearer.expected.audience={OAUTH_AUDIENCE}",
            f"{bearer_at}sasl.oauthbearer.expected.issuer={OAUTH_ISSUER}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca.cert}",
            # A client certificate is checked when one is presented (mutual TLS), not required.
            # (Listener-prefixed: the broker-wide setting applies to SSL listeners only.)
            "listener.name.sasl_ssl.ssl.client.auth=requested",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            f"super.users=User:{ADMIN}",
            "allow.everyone.if.no.acl.found=false",
        ]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process (in a container: its process on this machine)."""
        if self._proc is None:
            return None
        return self._container().pid() if self.container else self._proc.pid

    def _container(self) -> InfraContainer:
        from devstack.images import InfraContainer

        binds = [self.workdir, self._secrets, ensure_jars(), LOG4J.parent]
        if self.ca is not None:
            binds.append(self.ca.directory)
        return InfraContainer(f"booking-kafka-{self.port}", "kafka", binds)

    def _properties(self) -> Path:
        data = self.workdir / "data"
        min_isr = max(1, self.replicas - 1)
        props = self.workdir / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    "controller.quorum.voters="
                    + (self.voters or f"{self.node_id}@127.0.0.1:{self.controller_port}"),
                    *(self._secured_properties() if self.secured else self._plain_properties()),
                    f"log.dirs={data}",
                    "num.partitions=1",
                    f"offsets.topic.replication.factor={self.replicas}",
                    "offsets.topic.num.partitions=6",
                    f"transaction.state.log.replication.factor={self.replicas}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={self.replicas}",
                    f"share.coordinator.state.topic.min.isr={min_isr}",
                    f"min.insync.replicas={min_isr}",
                    "unclean.leader.election.enable=false",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.segment.bytes=67108864",
                    # A local broker on a small machine, idle most of the time: a no-op metadata
                    # record every 5 s instead of every 500 ms, and threads for two cores
                    # (idle CPU of the broker alone 1.7 % -> 0.95 % of two cores, with the
                    # serial collector below: docs/ARCHITECTURE.md, "Performance").
                    "metadata.max.idle.interval.ms=5000",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    "background.threads=2",
                    "",
                ]
            )
        )
        return props

    def _plain_properties(self) -> list[str]:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ]

    def _scram_users(self) -> list[str]:
        """``--add-scram`` arguments of the storage format: every principal's, the admin's too
        (it connects over PLAIN here, and over SCRAM where, as in the chart, one mechanism
        serves every principal)."""
        if not self.secured:
            return []
        return [
            f"--add-scram=SCRAM-SHA-512=[name={name},password={password}]"
            for name, password in self.passwords().items()
        ]

    def start(self, timeout: float = 120.0) -> None:
        self.launch()
        self.wait_listening(timeout)

    def wait_listening(self, timeout: float = 120.0) -> None:
        assert self._proc is not None
        wait_for(lambda: port_open(self.port), timeout, "kafka to listen", proc=self._proc)

    def launch(self) -> None:
        """Format the storage (once) and start the broker, without waiting for it."""
        libs = ensure_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        formatted = self.workdir / "data" / "meta.properties"
        users = self._secrets / "principals.json"
        if formatted.exists() and self.secured != users.exists():
            # Storage formatted for the other mode (a local platform of an older checkout): its
            # users are not there. Local data only: start it afresh.
            shutil.rmtree(self.workdir / "data")
            users.unlink(missing_ok=True)
        props = self._properties()
        classpath = f"{libs}/*"
        java = "java" if self.container else shutil.which("java") or "java"
        if not formatted.exists():
            cluster_id = self.cluster_id or new_cluster_id()
            format_argv = [
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
                *self._scram_users(),
            ]
            if self.container:
                done = self._container().run(format_argv)
                if done.returncode != 0:
                    raise RuntimeError(
                        f"formatting Kafka's storage failed: {done.stderr[-2000:]!r}"
                    )
            else:
                subprocess.run(format_argv, check=True, capture_output=True)
        allowed = []
        if self.secured:  # the JWKS the OAUTHBEARER validator may read (Kafka 4 asks to be told)
            allowed = [
                f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self._oauth_jwks().as_uri()}"
            ]
        argv = [
            java,
            *allowed,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:CICompilerCount=2",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(props),
        ]
        if self.container:
            self._proc = self._container().spawn(argv, self.workdir / "kafka.log")
        else:
            self._proc = spawn("kafka", argv, log_path=self.workdir / "kafka.log")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop(timeout=30)
            self._proc = None
            if self.container:
                self._container().remove()

    def kill(self) -> None:
        """SIGKILL: the broker ends at once (in a container, the container's server)."""
        if self._proc is not None:
            if self.container:
                self._container().signal("KILL")
                self._proc.popen.wait(30)
                self._container().remove()
            else:
                self._proc.kill()
            self._proc = None


@dataclass
class KafkaCluster:
    """``size`` combined broker+controller nodes of one KRaft cluster on loopback, with small
    heaps: topics get ``size`` replicas (``min.insync.replicas`` one less), so a node can die
    while producers write with ``acks=all``. Secured like a single broker when given a CA: every
    node has a certificate of it, and the principals' passwords and the identity provider's key
    are the cluster's, kept in its directory. ``ports``: each node's client and controller
    port (default: free ones)."""

    workdir: Path
    size: int = 3
    heap: str = "384m"
    ca: LocalCA | None = None
    principals: tuple[str, ...] = ()
    ports: list[tuple[int, int]] | None = None
    container: bool = False  # each node in a container (KafkaBroker.container)
    nodes: list[KafkaBroker] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.nodes:
            return
        if self.ports is None:
            free = free_ports(2 * self.size)
            self.ports = list(zip(free[: self.size], free[self.size :], strict=True))
        voters = ",".join(f"{n + 1}@127.0.0.1:{c}" for n, (_, c) in enumerate(self.ports))
        id_file = self.workdir / "cluster-id"
        if not id_file.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            id_file.write_text(new_cluster_id())
        self.nodes = [
            KafkaBroker(
                self.workdir / f"node-{n + 1}",
                client,
                controller,
                heap=self.heap,
                ca=self.ca,
                principals=self.principals,
                node_id=n + 1,
                voters=voters,
                cluster_id=id_file.read_text().strip(),
                replicas=self.size,
                container=self.container,
                secrets_dir=self.workdir,
            )
            for n, (client, controller) in enumerate(self.ports)
        ]

    @property
    def secured(self) -> bool:
        return self.ca is not None

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def pid(self) -> int | None:
        return self.nodes[0].pid

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def security(self, principal: str = ADMIN) -> KafkaSecurity:
        return self.nodes[0].security(principal)

    def client_env(self, principal: str) -> dict[str, str]:
        return self.nodes[0].client_env(principal)

    def passwords(self) -> dict[str, str]:
        return self.nodes[0].passwords()

    def oauth_token(
        self, principal: str, ttl_s: int = 300, key: RSAPrivateKey | None = None
    ) -> str:
        return self.nodes[0].oauth_token(principal, ttl_s, key)

    def start(self, timeout: float = 180.0) -> None:
        # The controllers elect a leader only once a majority runs: launch them all, then wait.
        # (From this thread: a process dies with the thread that started it.)
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_listening(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
