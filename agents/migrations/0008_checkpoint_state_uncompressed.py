from django.db import migrations

from tradingops.db import is_postgres


def store_uncompressed(apps, schema_editor):
    """The checkpoint is rewritten after every candle: its float arrays barely compress, and pglz
    trying costs more than writing the bytes as they are."""
    if is_postgres(schema_editor.connection):
        schema_editor.execute("ALTER TABLE agents_enginecheckpoint ALTER COLUMN state SET STORAGE EXTERNAL")


class Migration(migrations.Migration):
    dependencies = [("agents", "0007_check_books_schedule")]

    operations = [migrations.RunPython(store_uncompressed, migrations.RunPython.noop)]
