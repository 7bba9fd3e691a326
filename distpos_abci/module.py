"""What a state area plugs into the app: genesis, messages, block hooks.

Each area (bank, staking, underwriting, interchain, ...) is a `Module`. The app
knows them only through this interface, so adding an area means adding a module,
not editing the state machine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import InvalidParamsError
from .events import Event
from .store.kv import KVStore
from .types import AccountId, ChainId, Height


@dataclass(frozen=True, slots=True)
class Vote:
    """A validator's vote in the decided last commit (block_id_flag 2 = signed the block)."""

    address: bytes
    power: int
    signed: bool


@dataclass(frozen=True, slots=True)
class Misbehavior:
    """Evidence of a validator's misbehavior (kind: 1 duplicate vote, 2 light-client attack)."""

    kind: int
    address: bytes
    power: int
    height: Height
    total_power: int


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """The decided block being executed; `time_ns` is consensus (BFT) time, identical on every node."""

    height: Height
    time_ns: int
    proposer: bytes
    votes: tuple[Vote, ...] = ()
    misbehavior: tuple[Misbehavior, ...] = ()


@dataclass(frozen=True, slots=True)
class TxContext:
    """What a message handler may know about its transaction."""

    chain_id: ChainId
    height: Height  # the block's height (CheckTx: last committed + 1)
    time_ns: int  # block time (CheckTx: last committed block's time)
    signer: AccountId
    signer_pub_key: bytes
    tx_hash: bytes
    check: bool  # True in CheckTx / RECHECK, False in FinalizeBlock


@dataclass(frozen=True, slots=True)
class ValidatorUpdate:
    """A change to CometBFT's validator set: power 0 removes the validator."""

    pub_key: bytes
    power: int


@dataclass(frozen=True, slots=True)
class GenesisContext:
    """What init_genesis may know: the chain-id and CometBFT's genesis validators."""

    chain_id: ChainId
    validators: tuple[ValidatorUpdate, ...]


@dataclass
class EndBlockResult:
    events: list[Event] = field(default_factory=list)
    validator_updates: list[ValidatorUpdate] = field(default_factory=list)


# A message decoder turns the protobuf message in TxBody's `msg` oneof into a typed Msg.
MsgDecoder = Callable[[Any], Any]


class Module:
    """Base class of a state area; every hook defaults to doing nothing."""

    name: ClassVar[str] = ""
    # TxBody oneof field name -> decoder of that message into a typed Msg.
    decoders: ClassVar[Mapping[str, MsgDecoder]] = {}
    # Typed Msg classes this module executes.
    msg_types: ClassVar[tuple[type, ...]] = ()

    def init_genesis(self, store: KVStore, section: Any, ctx: GenesisContext) -> list[ValidatorUpdate]:
        """Apply this module's app_state section (None when absent); may return the initial validator set."""
        return []

    def deliver(self, store: KVStore, ctx: TxContext, msg: Any) -> list[Event]:
        """Execute one of msg_types; raise a DistposError to fail the message."""
        raise NotImplementedError(type(msg).__name__)

    def process_params_json(self, store: KVStore, ctx: TxContext, raw: str) -> list[Event]:
        """Governance's parameter change (MsgUpdateParams): merge the JSON object raw (the keys to change) into
        the stored params, validate the result fully, then store it. Modules without parameters keep this
        default, which refuses."""
        raise InvalidParamsError(f"module {self.name!r} has no parameters that governance can change")

    def begin_block(self, store: KVStore, block: BlockInfo) -> list[Event]:
        """Run before the block's transactions."""
        return []

    def end_block(self, store: KVStore, block: BlockInfo) -> EndBlockResult:
        """Run after the block's transactions."""
        return EndBlockResult()
