"""The pieces of `responses-gateway up`'s supervisor that need no child process: the restart
budget, the port check, what the banner may print."""

from __future__ import annotations

import socket

import pytest

from devstack.stack import PortInUse, RestartBudget, _without_password, check_ports_free


def test_restart_budget_allows_limit_restarts_per_window() -> None:
    budget = RestartBudget(limit=3, window=60.0)
    assert [budget.take(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert budget.used == 3
    assert budget.take(60.5)  # the restart at 0 s has left the window
    assert not RestartBudget(limit=0, window=60.0).take(0.0)


def test_a_port_held_with_so_reuseport_still_counts_as_taken() -> None:
    # What an Envoy listener or gRPC server with their Linux defaults looked like: the probe
    # must not share the port with it.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            check_ports_free({"--admin-port": 0, "--envoy-port": port})
    assert str(caught.value) == (f"port {port} (--envoy-port) is already in use on 127.0.0.1; stop what "
                                 "holds it or choose another port (--envoy-port auto: a free one)")


def test_two_options_naming_one_port_are_refused_and_free_ports_pass() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_ports_free({"--envoy-port": port, "--admin-port": 0, "--http-port": 0})
    with pytest.raises(PortInUse, match=rf"port {port} \(--http-port\)"):
        check_ports_free({"--envoy-port": port, "--http-port": port})


@pytest.mark.parametrize(("db", "printed"), [
    ("/srv/responses-gateway.sqlite3", "/srv/responses-gateway.sqlite3"),
    ("postgresql://gw:s3cret@127.0.0.1:5432/responses", "postgresql://gw:***@127.0.0.1:5432/responses"),
    ("postgresql://gw@127.0.0.1/responses", "postgresql://gw@127.0.0.1/responses"),
])
def test_the_banner_never_prints_a_database_password(db: str, printed: str) -> None:
    assert _without_password(db) == printed
