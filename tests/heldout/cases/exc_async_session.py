"""Async SQLAlchemy: a job that archives old notifications."""

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from models import Notification

engine = create_async_engine("postgresql+asyncpg://app@db/app")
async_session = async_sessionmaker(engine, expire_on_commit=False)


async def purge_notifications(days: int = 30) -> None:
    session = async_session()  # expect: LC202
    cutoff = datetime.utcnow() - timedelta(days=days)
    await session.execute(delete(Notification).where(Notification.created < cutoff))
    await session.commit()
    await session.close()
