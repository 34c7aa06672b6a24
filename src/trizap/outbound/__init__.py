"""Requests trizap makes to addresses its users give it (webhooks; media URLs too), under
one address rule: no loopback, private, link-local, multicast or otherwise non-public
destination unless the server allows private ones. The rule is checked on the address
actually connected to, after resolution, so a name cannot be used to get around it.

`addresses` is the rule (pure); `client` an httpx client whose every connection goes
through it. A leaf: it imports nothing else of trizap.
"""

from .addresses import AddressRefused as AddressRefused
from .addresses import literal_refusal as literal_refusal
from .addresses import refusal as refusal
from .client import GuardedBackend as GuardedBackend
from .client import Resolver as Resolver
from .client import Rule as Rule
from .client import open_client as open_client
from .client import read_capped as read_capped
from .client import resolve as resolve
