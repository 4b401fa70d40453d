from django.db import migrations, models


def untouched_configuration_takes_the_new_default(apps, schema_editor):
    """The configuration row 0002 created holds the old default; one no user has saved since
    (``updated_by`` blank) takes the new one. A value an operator set is left as it is."""
    apps.get_model("agents", "RuntimeConfig").objects.filter(
        pk=1, updated_by="", cooldown_after_loss_minutes=60
    ).update(cooldown_after_loss_minutes=240)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0011_trade_equity_point"),
    ]

    operations = [
        migrations.AlterField(
            model_name="runtimeconfig",
            name="cooldown_after_loss_minutes",
            field=models.PositiveIntegerField(default=240),
        ),
        migrations.RunPython(untouched_configuration_takes_the_new_default, migrations.RunPython.noop),
    ]
