"""The kit's Lua steps as a Redis function library, without a server: its name and version, the
calls FCALL makes, loading it when Redis lacks this version, the fallback for a Redis older than
7, and the sentence a login that may not load it gets."""

from __future__ import annotations

import pytest
import redis

from banku import ServiceUnavailable, Settings
from banku.adapters.redis.view import (
    _WIPE,
    APPLY_WITH_TRACKING,
    FUNCTIONS,
    LIBRARY,
    LIBRARY_VERSION,
    ReadModel,
)

SETTINGS = Settings(redis_url="redis://learner-01:pw@127.0.0.1:6399/1", namespace="learner-01")


def test_the_library_holds_the_scripts_the_notebook_shows_under_versioned_names():
    assert LIBRARY.startswith("#!lua name=banku\n")
    assert APPLY_WITH_TRACKING.strip() in LIBRARY and _WIPE.strip() in LIBRARY
    assert FUNCTIONS == {"apply": f"banku_apply_{LIBRARY_VERSION}",
                         "wipe": f"banku_wipe_{LIBRARY_VERSION}"}
    for name in FUNCTIONS.values():
        assert f"redis.register_function('{name}'" in LIBRARY
    assert len(LIBRARY_VERSION) == 8 and int(LIBRARY_VERSION, 16) >= 0


class FakeRedis:
    """Answers FCALL as a given Redis would; records what was asked."""

    def __init__(self, fcall_errors: list[Exception], load_error: Exception | None = None):
        self.fcall_errors, self.load_error = fcall_errors, load_error
        self.calls: list[tuple] = []

    def fcall(self, name, numkeys, *keys_and_args):
        self.calls.append(("FCALL", name, numkeys))
        if self.fcall_errors:
            raise self.fcall_errors.pop(0)
        return 3

    def function_load(self, code, replace=False):
        self.calls.append(("FUNCTION LOAD", replace))
        if self.load_error:
            raise self.load_error
        return "banku"

    def register_script(self, script):
        self.calls.append(("SCRIPT", script))
        return lambda keys, args: 4


def model_with(fake: FakeRedis) -> ReadModel:
    model = ReadModel(SETTINGS)
    model.redis.close()
    model.redis = fake
    return model


def test_a_redis_without_this_version_gets_the_library_loaded_once_then_fcall():
    fake = FakeRedis([redis.ResponseError("Function not found")])
    assert model_with(fake).wipe() == 3
    assert fake.calls == [("FCALL", FUNCTIONS["wipe"], 6), ("FUNCTION LOAD", True),
                          ("FCALL", FUNCTIONS["wipe"], 6)]


def test_a_redis_older_than_7_runs_the_scripts():
    fake = FakeRedis([redis.ResponseError("unknown command 'FCALL', with args beginning with:")])
    model = model_with(fake)
    assert model.wipe() == 4 and model.wipe() == 4
    assert fake.calls == [("FCALL", FUNCTIONS["wipe"], 6), ("SCRIPT", _WIPE)]


def test_a_login_that_may_not_load_the_library_is_told_who_can():
    fake = FakeRedis([redis.ResponseError("Function not found")],
                     load_error=redis.exceptions.NoPermissionError("no permissions"))
    with pytest.raises(ServiceUnavailable, match="lacks the kit's functions .* ask the"
                                                 " instructor to run `banku workshop up`"):
        model_with(fake).wipe()
