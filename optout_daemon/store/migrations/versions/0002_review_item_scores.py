"""review items keep the classifier's scores from the moment of the decision

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.add_column(sa.Column('scores', sa.Text(), nullable=False, server_default='{}'))
        batch.add_column(sa.Column('classifier', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('review_items') as batch:
        batch.drop_column('classifier')
        batch.drop_column('scores')
