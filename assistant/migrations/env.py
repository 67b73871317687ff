"""Alembic's environment for the conversation log (``assistant.conversation_log.migrate`` runs it)."""

from alembic import context
from sqlalchemy import create_engine

from assistant.conversation_log import Base

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
