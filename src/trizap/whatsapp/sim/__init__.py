"""The sim engine: WhatsApp's servers and phones, simulated, so everything runs without one.

- `network`: `SimNetwork`, the servers (`open_sim_network`), durable in a file of its own;
- `engine`: `SimEngine`, one linked device (an `Engine` with `SimControls`);
- `link`: what an engine asks the network and is pushed; `LocalLink` in process,
  `client.TcpLink` to a network served over TCP by `server.serve_network`
  (`trizap sim-network serve`), speaking `wire`;
- `model` and `db`: what the network knows, in memory and on disk.
"""

from .client import RemoteNetwork as RemoteNetwork
from .engine import Connector as Connector
from .engine import SimEngine as SimEngine
from .engine import SimEngineStatistics as SimEngineStatistics
from .engine import SimOptions as SimOptions
from .engine import engine_factory as engine_factory
from .link import Link as Link
from .model import SimNetworkStatistics as SimNetworkStatistics
from .network import LocalLink as LocalLink
from .network import SimNetwork as SimNetwork
from .network import open_sim_network as open_sim_network
from .server import serve_network as serve_network
