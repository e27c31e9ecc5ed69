"""Emulated hosts on one Linux machine: each a network namespace of its own (its own network stack, address and
ports), joined to this process's namespace by a veth pair on a switch (a bridge) of the suite's.

A tf.data service on localhost shares the trainer's network stack and cores; a real cluster does not. Here a
dispatcher and each worker run as their own "host": traffic between them and the trainer crosses veth links and
a bridge, through TCP over real interfaces, and each host's link may be limited in rate (``tc`` tbf) and, where
the kernel has the netem qdisc, delayed. Cores are a cgroup's business (:class:`pipelines.limits.cgroup.Limits`
``cpus``), not this module's.

Addresses are link-local (169.254.N.0/24, :rfc:`3927`; never 169.254.169.0/24, which clouds use for their
metadata service), N free on this machine when the network is made, so no routed range is touched and traffic
flows only between namespaces the suite made and the bridge. Nothing is forwarded: no sysctl changes.

Every namespace is named ``loaderbench-<pid>-<start>-<n>-<host>`` after the process that made it; every link of
ours carries that owner as its alias. Whatever a killed run left (namespaces, links, the processes inside) is
removed by its watcher (:mod:`pipelines.limits.reaper`) when the maker dies, and by the sweep at the next start
(:func:`sweep_abandoned_hosts`). Needs root (``CAP_NET_ADMIN`` and ``CAP_SYS_ADMIN``) and iproute2; without
them :func:`emulation_unavailable` says so in one line.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipelines.cleanup.netns import LINKS_DIR, NETNS_DIR, remove_hosts
from pipelines.limits.cgroup import PREFIX
from pipelines.limits.make import owner_alive, owner_name, start_reaper

#: Every interface of ours is named ``lb`` + a 5-hex tag + its part (Linux allows 15 characters).
LINK_PREFIX = "lb"
#: What makes emulated hosts possible, for the one-line reason.
ENABLE_HINT = ("run as root (or with CAP_NET_ADMIN and CAP_SYS_ADMIN, e.g. a container started with "
               "--cap-add NET_ADMIN --cap-add SYS_ADMIN) on Linux with iproute2")
#: Serialises picking a free 169.254.N.0/24 between runs on one machine (pytest-xdist workers, two shells): a lock
#: on the temporary folder itself, which always exists, so no lock file is left behind.
_LOCK = Path(tempfile.gettempdir())


class HostsUnavailable(RuntimeError):
    """Emulated hosts cannot be made here; the message is one line: why, and what would enable it."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip`` (in namespace ``netns``), its stderr in the :class:`HostsUnavailable` it raises on failure."""
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise HostsUnavailable(f"{' '.join(command)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done


def _tc(*args: str, netns: str | None = None) -> subprocess.CompletedProcess:
    command = in_namespace(netns, ["tc", *args]) if netns else ["tc", *args]
    return subprocess.run(command, capture_output=True, text=True)


@lru_cache(maxsize=1)
def emulation_unavailable() -> str | None:
    """Why emulated hosts cannot be made here, in one line; ``None`` where they can (a namespace is made and
    removed to find out)."""
    if not sys.platform.startswith("linux"):
        return f"emulated hosts need Linux network namespaces; this is {sys.platform}"
    if os.geteuid() != 0:
        return f"emulated hosts need root for network namespaces, veth links and cgroups: {ENABLE_HINT}"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"emulated hosts need iproute2's {' and '.join(missing)} (e.g. apt install iproute2)"
    probe = f"{owner_name()}-probe"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace ({made.stderr.strip()}): {ENABLE_HINT}"
    ip("netns", "del", probe, check=False)
    return None


@lru_cache(maxsize=1)
def netem_available() -> bool:
    """Whether this kernel has the netem qdisc (a link's delay): tried on a throwaway namespace's loopback."""
    if emulation_unavailable():
        return False
    probe = f"{owner_name()}-netem"
    if ip("netns", "add", probe, check=False).returncode != 0:
        return False
    try:
        return _tc("qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms", netns=probe).returncode == 0
    finally:
        ip("netns", "del", probe, check=False)


def link_delay_unavailable() -> str | None:
    """Why ``--link-delay`` cannot be honoured here, in one line (``None`` where it can)."""
    reason = emulation_unavailable()
    if reason:
        return reason
    if not netem_available():
        return ("this kernel has no netem qdisc (sch_netem), so a link's delay cannot be emulated here; "
                "leave --link-delay out (--link-rate needs only tbf)")
    return None


@dataclass(frozen=True)
class Host:
    """One emulated host: a namespace, its address on the suite's switch, and its link's end in this namespace."""

    name: str
    netns: str
    address: str
    link: str


@dataclass
class Network:
    """A bridge in this namespace and hosts joined to it, for a ``with`` block; removed on leaving it.

    Attributes:
        hosts: the hosts, in the order asked for (``Network(["dispatcher", "worker1"])``).
        gateway: this namespace's (the trainer's) address on the bridge.
        link_rate_bps: each host's link rate in bits a second, both ways (``None``: the veth's own speed).
        link_delay_s: each host's one-way delay added by netem (``None``: none).
    """

    names: Sequence[str]
    link_rate_bps: int | None = None
    link_delay_s: float | None = None
    hosts: list[Host] = field(default_factory=list)
    gateway: str = ""
    _owner: str = ""
    _tag: str = ""
    _reaper: subprocess.Popen | None = None

    def __enter__(self) -> Network:
        self.make()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    @property
    def namespaces(self) -> list[str]:
        return [h.netns for h in self.hosts]

    @property
    def links(self) -> list[str]:
        return [self.bridge] + [h.link for h in self.hosts] if self._tag else []

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self._tag}b"

    def make(self) -> None:
        """Sweep what killed runs left, then make the bridge and every host; all or nothing."""
        reason = emulation_unavailable()
        if reason:
            raise HostsUnavailable(reason)
        if self.link_delay_s and not netem_available():
            raise HostsUnavailable(link_delay_unavailable())
        sweep_abandoned_hosts()
        self._owner = owner_name()
        self._tag = f"{abs(hash((self._owner, os.urandom(4)))) % 16**5:05x}"
        try:
            lock = os.open(_LOCK, os.O_RDONLY)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                subnet = _free_subnet()
                self._make_bridge(subnet)
            finally:
                os.close(lock)
            for number, name in enumerate(self.names):
                self._make_host(name, number, subnet)
            self._reaper = start_reaper(netns=self.namespaces, links=self.links)
        except BaseException:
            self.remove()
            raise

    def _make_bridge(self, subnet: ipaddress.IPv4Network) -> None:
        self.gateway = str(subnet.network_address + 1)
        ip("link", "add", self.bridge, "type", "bridge")
        ip("link", "set", "dev", self.bridge, "alias", self._owner)
        ip("addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def _make_host(self, name: str, number: int, subnet: ipaddress.IPv4Network) -> None:
        """Host ``name``: its namespace, veth pair on the bridge, address and shaping; in :attr:`hosts` from its
        namespace on, so that a step that fails leaves it to :meth:`remove`."""
        if not re.fullmatch(r"[a-z0-9]+", name):
            raise ValueError(f"a host's name is lower-case letters and digits, got {name!r}")
        netns = f"{self._owner}-{name}"
        outer, inner = f"{LINK_PREFIX}{self._tag}h{number}", f"{LINK_PREFIX}{self._tag}p{number}"
        address = str(subnet.network_address + 10 + number)
        host = Host(name, netns, address, outer)
        ip("netns", "add", netns)
        self.hosts.append(host)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", "dev", outer, "alias", self._owner)
        ip("link", "set", inner, "netns", netns)
        ip("link", "set", "dev", inner, "name", "eth0", netns=netns)
        ip("addr", "add", f"{address}/{subnet.prefixlen}", "dev", "eth0", netns=netns)
        ip("link", "set", "eth0", "up", netns=netns)
        ip("link", "set", "lo", "up", netns=netns)
        ip("link", "set", outer, "master", self.bridge)
        ip("link", "set", outer, "up")
        self._shape(outer, None)
        self._shape("eth0", netns)

    def _shape(self, device: str, netns: str | None) -> None:
        """The link's rate (and delay) on ``device``'s way out: tbf, or netem where a delay is asked for."""
        if self.link_delay_s:
            args = ["netem", "delay", f"{self.link_delay_s * 1e6:.0f}us"]
            args += ["rate", f"{self.link_rate_bps}bit"] if self.link_rate_bps else []
        elif self.link_rate_bps:
            burst = max(self.link_rate_bps // 8 // 250, 32 * 1024)  # one timer tick's worth, 32 KiB at least
            args = ["tbf", "rate", f"{self.link_rate_bps}bit", "burst", str(burst), "latency", "50ms"]
        else:
            return
        done = _tc("qdisc", "add", "dev", device, "root", *args, netns=netns)
        if done.returncode != 0:
            raise HostsUnavailable(f"tc qdisc add dev {device} root {' '.join(args)}: {done.stderr.strip()}")

    def remove(self) -> None:
        """Kill what runs in the hosts, remove the namespaces and links; safe to call twice."""
        remove_hosts(self.namespaces, self.links)
        self.hosts = []
        if self._reaper is not None and self._reaper.poll() is None:
            self._reaper.terminate()
            self._reaper.wait(timeout=5)
        self._reaper = None


def _free_subnet() -> ipaddress.IPv4Network:
    """A 169.254.N.0/24 that no address of this namespace overlaps (N from 100 to 254, then 1 to 99; never 169)."""
    used = [ipaddress.ip_interface(word).network for line in ip("-o", "-4", "addr").stdout.splitlines()
            for word in line.split() if re.fullmatch(r"[0-9.]+/[0-9]+", word)]
    for n in (*range(100, 255), *range(1, 100)):
        candidate = ipaddress.ip_network(f"169.254.{n}.0/24")
        if n != 169 and not any(candidate.overlaps(network) for network in used):
            return candidate
    raise HostsUnavailable("no free 169.254.N.0/24 on this machine for emulated hosts")


def _owner_of_link(link: str) -> str:
    try:
        return (LINKS_DIR / link / "ifalias").read_text().strip()
    except OSError:
        return ""


def sweep_abandoned_hosts() -> list[str]:
    """Remove the namespaces and links of ours whose maker has exited (a killed run's watcher that did not get
    to them); says so on stderr."""
    namespaces = [p.name for p in NETNS_DIR.glob(f"{PREFIX}*")] if NETNS_DIR.is_dir() else []
    dead = [n for n in namespaces if not owner_alive(n)]
    links = [p.name for p in LINKS_DIR.glob(f"{LINK_PREFIX}*")]
    dead_links = [link for link in links if (owner := _owner_of_link(link)).startswith(PREFIX)
                  and not owner_alive(owner)]
    if dead or dead_links:
        remove_hosts(dead, dead_links)
        print(f"loaderbench: removed {len(dead)} network namespace(s) and {len(dead_links)} link(s) left by "
              "killed runs", file=sys.stderr)
    return dead + dead_links


def in_namespace(netns: str, command: Sequence[str]) -> list[str]:
    """``command`` run inside namespace ``netns``."""
    return ["ip", "netns", "exec", netns, *command]
