"""A background poller that keeps one async session for its whole life."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from models import Alert
from notify import push

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionFactory = async_sessionmaker(engine)


async def watch_alerts() -> None:
    async with SessionFactory() as session:  # expect: LC402
        while True:
            result = await session.execute(select(Alert).where(Alert.sent.is_(False)))
            for alert in result.scalars():
                await push(alert)
            await asyncio.sleep(15)
