"""State: what voxplan made, kept by a `StateStore` backend (voxplan.state.store; backends listed in
voxplan.state.backends)."""

from voxplan.state.local import LocalStore, journal_path, state_path
from voxplan.state.model import FORMAT_VERSION, Entry, State
from voxplan.state.store import Claim, Holder, Publication, Published, Snapshot, StateStore

__all__ = ["FORMAT_VERSION", "Claim", "Entry", "Holder", "LocalStore", "Publication", "Published", "Snapshot", "State",
           "StateStore", "journal_path", "state_path"]
