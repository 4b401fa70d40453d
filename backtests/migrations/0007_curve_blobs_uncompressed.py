"""Curve chunks' and the overview's float arrays are stored as they are: PostgreSQL's default for bytea
(EXTENDED) tries to compress every 16 kB blob of random floats, which saves nothing and cost the 1M-bar
run's write a large share of its time. EXTERNAL keeps out-of-line storage without the compression."""

from django.db import migrations

from tradingops.db import is_postgres

COLUMNS = {
    "backtests_curvechunk": ("ts", "equity", "close"),
    "backtests_curveoverview": ("ts", "equity", "drawdown", "preview"),
}


def external(apps, schema_editor):
    if not is_postgres(schema_editor.connection):
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE EXTERNAL')


def extended(apps, schema_editor):
    if not is_postgres(schema_editor.connection):
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE EXTENDED')


class Migration(migrations.Migration):
    dependencies = [("backtests", "0006_backtests_are_not_live_runs")]

    operations = [migrations.RunPython(external, extended)]
