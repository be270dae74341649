"""What a download may reach: public addresses only, unless the user says otherwise.

A GIF URL comes from a file anyone may have written, and a server may redirect anywhere:
left alone, the link checker and the frames download would fetch from this machine's own
services (127.0.0.1 on any port), the local network or a cloud's metadata address
(169.254.169.254) for whoever wrote the file. So each connection is checked once it is
made, on the address actually connected to (a DNS name re-pointed between a check and
the connection changes nothing): loopback, private, link-local, shared (CGNAT),
reserved, multicast and unspecified addresses are refused unless allow_private (the
setting allow_private_urls) is on. A --source URL the user typed that names such a host
itself (localhost, or an address like 192.168.1.5) is taken as that permission for its
own download.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

LOCAL_NAMES = ("localhost",)
LOCAL_SUFFIXES = (".localhost",)
ALLOW_HINT = "set GIFSEARCH_ALLOW_PRIVATE_URLS=1 (or --allow-private-urls) if it is meant to"


def is_public(address: str) -> bool:
    """Whether an IP address (v4 or v6, with or without a %scope) is a public one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def peer_problem(sock: socket.socket, allow_private: bool) -> str | None:
    """Return why a connected socket's peer may not be reached (its address), or None."""
    if allow_private:
        return None
    try:
        address = str(sock.getpeername()[0])
    except (OSError, IndexError):
        return None  # not connected after all: the read will fail on its own
    if is_public(address):
        return None
    return f"{address} is a loopback or private address; {ALLOW_HINT}"


def names_private_host(url: str) -> bool:
    """Whether a URL's host is itself local or private as written (localhost, 10.0.0.7),
    without a DNS look-up: a URL the user typed that way means to reach it."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES):
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return not is_public(host)
