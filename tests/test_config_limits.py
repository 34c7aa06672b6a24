"""The hard limits' settings (issue 19), as an operator gives them in the environment."""

from __future__ import annotations

import pytest

from trizap.config import Config


def test_limits_come_from_the_environment_and_empty_turns_one_off() -> None:
    config = Config.from_env(
        {
            "TRIZAP_ENGINES": "neonize",
            "TRIZAP_OUTBOX_MAX_MESSAGES": "500",
            "TRIZAP_TENANT_OUTBOX_MAX_BYTES": "",
            "TRIZAP_MESSAGE_RETENTION_AGE": "86400",
            "TRIZAP_WS_MAX_PER_TENANT": "20",
            "TRIZAP_REPLAY_CONCURRENCY": "2",
        }
    )
    assert config.enabled_engines == ("neonize",)
    assert config.outbox_max_messages == 500
    assert config.tenant_outbox_max_bytes is None
    assert config.message_retention_age == 86400.0
    assert (config.ws_max_per_tenant, config.replay_concurrency) == (20, 2)


def test_engines_must_be_known_and_keep_the_default_one() -> None:
    with pytest.raises(ValueError, match="TRIZAP_ENGINES"):
        Config(engines="neonize,whatsapp-web")
    with pytest.raises(ValueError, match="TRIZAP_ENGINES"):
        Config(engines="")
    with pytest.raises(ValueError, match="default_engine"):
        Config(engines="sim")  # the default engine is neonize
    assert Config(engines="sim", default_engine="sim").enabled_engines == ("sim",)
