"""The sinks configured in settings: ``build_sinks(settings)``.

Webhooks are named ``webhook:1``, ``webhook:2``… in the order of ``events.webhooks`` (the
outbox keeps each event's delivery per name: reordering the list hands pending deliveries to
another URL), the MQTT sink ``mqtt``. A sink that cannot be built is left out and reported (the
start log, ``/readyz``); the server starts anyway.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field

from facegate.config import Settings
from facegate.events.types import Sink
from facegate.events.webhook import WebhookSink

logger = logging.getLogger(__name__)


@dataclass
class BuiltSinks:
    sinks: list[Sink] = field(default_factory=list)
    #: Names of the sinks whose events carry the face chip (``snapshot`` on).
    snapshots: set[str] = field(default_factory=set)
    #: Sinks that could not be built: name → why.
    problems: dict[str, str] = field(default_factory=dict)


def build_sinks(settings: Settings) -> BuiltSinks:
    built = BuiltSinks()
    for number, options in enumerate(settings.events.webhooks, start=1):
        sink = WebhookSink(options, name=f"webhook:{number}")
        built.sinks.append(sink)
        if options.snapshot:
            built.snapshots.add(sink.name)
    mqtt = settings.events.mqtt
    if mqtt.url:
        try:  # built on its own branch; imported only when configured
            module = importlib.import_module("facegate.events.mqtt")
            mqtt_sink: Sink = module.MqttSink(mqtt)
        except ModuleNotFoundError:
            built.problems["mqtt"] = "the MQTT sink is not part of this build"
        except Exception as exc:
            built.problems["mqtt"] = f"cannot build the MQTT sink: {type(exc).__name__}: {exc}"
        else:
            built.sinks.append(mqtt_sink)
            if mqtt.snapshot:
                built.snapshots.add(mqtt_sink.name)
    for name, problem in built.problems.items():
        logger.error("event sink %s is not working: %s", name, problem)
    return built
