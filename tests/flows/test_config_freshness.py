"""A change made by another process reaches this one within `config_check_seconds`; one made
by this process applies at once; and between two looks a request reads nothing for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from keyturn.clock import FrozenClock
from keyturn.operations.audit import CLI
from keyturn.operations.tenant_config import PatchOperation, patch_tenant
from keyturn.runtime import Runtime
from keyturn.settings import Settings
from keyturn.wiring import command_context, open_runtime
from tests.conftest import BASE_URL


async def display_name(rt: Runtime) -> str:
    async with command_context(rt) as ctx:
        opened_a_reader = ctx.uow.has_reader
        name = ctx.tenant.rp.display_name
    return f"{name} (read)" if opened_a_reader else name


async def rename(rt: Runtime, name: str) -> None:
    async with command_context(rt) as ctx:
        await patch_tenant(ctx, [PatchOperation("replace", "/rp/display_name", name)], actor=CLI)


def test_another_process_change_arrives_within_the_check_interval(
    clean_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(
        database_url=clean_database, data_dir=tmp_path, public_url=BASE_URL, config_check_seconds=1.0
    )

    async def main() -> list[str]:
        this = await open_runtime(settings, clock=clock)
        other = await open_runtime(settings, clock=FrozenClock(clock.current))
        try:
            seen = [await display_name(this)]  # the first look reads
            seen.append(await display_name(this))  # fresh: nothing read
            await rename(other, "Renamed elsewhere")
            clock.advance(seconds=0.9)
            seen.append(await display_name(this))  # not a second yet: the old name, no read
            clock.advance(seconds=0.1)
            seen.append(await display_name(this))  # a second: looks, sees the change
            await rename(this, "Renamed here")
            seen.append(await display_name(this))  # its own change: at once
            clock.advance(seconds=-30)  # a clock stepped back looks again rather than trusting it
            seen.append(await display_name(this))
            return seen
        finally:
            await other.close()
            await this.close()

    assert asyncio.run(main()) == [
        "Keyturn (read)",
        "Keyturn",
        "Keyturn",
        "Renamed elsewhere (read)",
        "Renamed here (read)",
        "Renamed here (read)",
    ]
