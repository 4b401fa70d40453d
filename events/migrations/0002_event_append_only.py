"""On Postgres, the database itself refuses UPDATE and DELETE on the event log."""

from django.db import migrations

from tradingops.db import is_postgres

FORBID = """
CREATE OR REPLACE FUNCTION events_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'events_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_event_append_only
    BEFORE UPDATE OR DELETE ON events_event
    FOR EACH ROW EXECUTE FUNCTION events_event_append_only();
"""
ALLOW = """
DROP TRIGGER IF EXISTS events_event_append_only ON events_event;
DROP FUNCTION IF EXISTS events_event_append_only();
"""


def forbid(apps, schema_editor):
    if is_postgres(schema_editor.connection):
        schema_editor.execute(FORBID)


def allow(apps, schema_editor):
    if is_postgres(schema_editor.connection):
        schema_editor.execute(ALLOW)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunPython(forbid, allow)]
