"""Drives the simulator with proxmoxer, an off-the-shelf PVE client, exactly as its users
drive a real cluster: log in with a password and with an API token, list nodes and guests,
start a guest and wait for its task. Prints one JSON object; exits non-zero on any error.

Arguments: host port root-password token-user token-name token-secret ca-bundle-path
"""
import json
import sys

from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks


def exercise(px, taken):
    nodes = sorted(n["node"] for n in px.nodes.get())
    guests = px.cluster.resources.get(type="vm")
    guest = next(
        g
        for g in guests
        if g["type"] == "qemu"
        and g["status"] == "stopped"
        and not g.get("template")
        and g["vmid"] not in taken
    )
    vm = px.nodes(guest["node"]).qemu(guest["vmid"])
    upid = vm.status.start.post()
    task = Tasks.blocking_status(px, upid, timeout=30, polling_interval=0.2)
    log = px.nodes(guest["node"]).tasks(upid).log.get(start=0, limit=50)
    return {
        "nodes": nodes,
        "guests": len(guests),
        "vmid": guest["vmid"],
        "upid": upid,
        "decoded": Tasks.decode_upid(upid)["type"],
        "exitstatus": task["exitstatus"],
        "log_lines": len(log),
        "status": vm.status.current.get()["status"],
    }


def main():
    host, port, password, token_user, token_name, token_value, ca = sys.argv[1:8]
    common = {"port": int(port), "verify_ssl": ca, "timeout": 10}
    by_password = ProxmoxAPI(host, user="root@pam", password=password, **common)
    by_token = ProxmoxAPI(
        host, user=token_user, token_name=token_name, token_value=token_value, **common
    )
    first = exercise(by_password, set())
    second = exercise(by_token, {first["vmid"]})
    print(json.dumps({"password": first, "token": second}))


if __name__ == "__main__":
    main()
