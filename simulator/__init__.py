"""A local stand-in for Amazon's VDF SP-API (LWA, Tokens, Orders, Shipping, Inventory, Transactions) over real HTTP."""

from simulator.config import Faults, SimulatorConfig
from simulator.generator import LineSpec
from simulator.server import RunningSimulator, serve_forever, start_simulator

__all__ = ["Faults", "LineSpec", "RunningSimulator", "SimulatorConfig", "serve_forever", "start_simulator"]
