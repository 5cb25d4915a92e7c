"""How notify's channels are built from the settings, with no list of them to keep: each adapter module wires
its own channel with `@wires("<name>")` on a factory that takes the settings and returns the channel, or None
when the deployment does not configure it. `build_channels` imports every module of this package (so a new
adapter module is found by being there) and calls the factories in the order of the channel-traits table."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from services.notify.channels.base import ChannelAdapter, ChannelRegistry
from services.notify.domain.channels import channel_names
from shared.settings import Settings

# A channel's factory: the channel built from the deployment's settings, or None when it is not configured
# (then it produces no deliveries and subscriptions to it are refused as `channel_unavailable`).
ChannelFactory = Callable[[Settings], ChannelAdapter | None]

_FACTORIES: dict[str, ChannelFactory] = {}


def wires(name: str) -> Callable[[ChannelFactory], ChannelFactory]:
    """Registers the decorated function as the factory of channel `name` (one adapter per channel)."""

    def register(factory: ChannelFactory) -> ChannelFactory:
        known = _FACTORIES.get(name)
        if known is not None and _qualified(known) != _qualified(factory):
            raise ValueError(f"channel {name!r} is wired twice: {_qualified(known)} and {_qualified(factory)}")
        _FACTORIES[name] = factory
        return factory

    return register


def _qualified(factory: ChannelFactory) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


def factories() -> dict[str, ChannelFactory]:
    """Every module of this package imported, the factories they wired by channel name."""
    package = importlib.import_module(__package__ or "services.notify.channels")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(_FACTORIES)


def build_channels(settings: Settings) -> ChannelRegistry:
    """The configured channels. A factory for a name the table lacks, or building a channel of another name,
    stops start-up: the table is where a channel is described."""
    wired = factories()
    names = channel_names()
    unknown = sorted(set(wired) - set(names))
    if unknown:
        raise ValueError(f"channels wired without a row in the channel-traits table: {unknown}")
    channels: list[ChannelAdapter] = []
    for name in names:
        factory = wired.get(name)
        channel = factory(settings) if factory else None
        if channel is None:
            continue
        if channel.name != name:
            raise ValueError(f"the factory of channel {name!r} built a {channel.name!r} channel")
        channels.append(channel)
    return ChannelRegistry(channels)
