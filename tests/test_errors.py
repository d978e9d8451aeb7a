import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from mastra_nb import ErrorKind, MastraError


class Address(BaseModel):
    city: str
    zip: int


class Person(BaseModel):
    name: str
    address: Address


def test_validation_error_names_each_field_path_and_what_was_expected():
    try:
        Person.model_validate({"name": 3, "address": {"city": "Oslo", "zip": "abc"}})
    except ValidationError as exc:
        error = MastraError.from_validation(exc, code="PERSON_INVALID", subject="input of `make_person`")
    assert error.kind is ErrorKind.VALIDATION
    assert error.code == "PERSON_INVALID"
    fields = {item["field"]: item for item in error.details["errors"]}
    assert set(fields) == {"name", "address.zip"}
    assert "valid string" in fields["name"]["expected"]
    assert "valid integer" in fields["address.zip"]["expected"]
    text = str(error)
    assert "`address.zip`" in text and "`name`" in text and "make_person" in text
    assert text.endswith("[PERSON_INVALID]")


def test_error_serializes_to_a_plain_dict():
    error = MastraError("system", "STORAGE_LOCKED", "The file is locked.", details={"path": "x"}, retryable=True)
    assert error.to_dict() == {
        "kind": "system",
        "code": "STORAGE_LOCKED",
        "message": "The file is locked.",
        "details": {"path": "x"},
        "retryable": True,
    }
    assert error.kind is ErrorKind.SYSTEM


def test_unknown_kind_is_refused():
    try:
        MastraError("catastrophe", "X", "y")
    except ValueError as exc:
        assert "catastrophe" in str(exc)
    else:
        raise AssertionError("an unknown kind was accepted")


def test_from_dict_is_the_inverse_of_to_dict():
    for kind in ErrorKind:
        error = MastraError(kind, "X_FAILED", "It failed.", details={"n": [1, "a"]}, retryable=kind is ErrorKind.SYSTEM)
        again = MastraError.from_dict(error.to_dict())
        assert type(again) is MastraError and again.to_dict() == error.to_dict() and again.kind is kind


def test_from_dict_reads_an_error_without_details_or_retryable():
    error = MastraError.from_dict({"kind": "domain", "code": "AGENT_UNKNOWN", "message": "No agent `x`."})
    assert error.to_dict() == {"kind": "domain", "code": "AGENT_UNKNOWN", "message": "No agent `x`.", "details": {},
                               "retryable": False}  # fmt: skip
    assert MastraError.from_dict({**error.to_dict(), "details": None}).details == {}


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"kind": "catastrophe", "code": "X", "message": "y"}, "unknown kind 'catastrophe' (error `X`)"),
        ({"code": "X", "message": "y"}, "unknown kind None"),
        ({"kind": "system", "message": "y"}, "a `code` and a `message`"),
        ("system: y", "got 'system: y'"),
    ],
)
def test_from_dict_refuses_data_that_is_not_an_error(data: Any, said: str):
    with pytest.raises(MastraError) as info:
        MastraError.from_dict(data)
    assert info.value.code == "ERROR_DATA_INVALID" and info.value.kind is ErrorKind.VALIDATION
    assert "`MastraError.from_dict`" in str(info.value) and said in str(info.value)


class StoreFailed(MastraError):
    """A subclass made from other arguments, as `memory`'s `StoreDown` is."""

    def __init__(self, store: str) -> None:
        self.store = store
        super().__init__(ErrorKind.SYSTEM, "STORE_FAILED", f"The store {store} failed.", retryable=True)


def test_an_error_pickles_whole():
    error = MastraError("execution", "TOOL_FAILED", "Tool `f` failed.", details={"tool": "f"}, retryable=True)
    error.add_note("while testing")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is MastraError and again.to_dict() == error.to_dict() and again.kind is ErrorKind.EXECUTION
    assert again.args == error.args and again.__notes__ == ["while testing"] and str(again) == str(error)
    subclassed = pickle.loads(pickle.dumps(StoreFailed("s3")))
    assert type(subclassed) is StoreFailed and subclassed.store == "s3"
    assert subclassed.to_dict() == StoreFailed("s3").to_dict()


def fail(code: str) -> None:
    """Raised in a worker process (a module-level function, so that the worker can import it)."""
    if code == "STORE_FAILED":
        raise StoreFailed("s3")
    raise MastraError("system", code, "The file is locked.", details={"path": "/tmp/x"}, retryable=True)


def test_an_error_raised_in_another_process_arrives_intact():
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared but the pickle
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        locked = pool.submit(fail, "STORAGE_LOCKED").exception(timeout=60)
        failed = pool.submit(fail, "STORE_FAILED").exception(timeout=60)
    assert type(locked) is MastraError
    assert locked.to_dict() == {"kind": "system", "code": "STORAGE_LOCKED", "message": "The file is locked.",
                                "details": {"path": "/tmp/x"}, "retryable": True}  # fmt: skip
    assert type(failed) is StoreFailed and failed.store == "s3" and failed.retryable
    assert "raise StoreFailed" in str(failed.__cause__)  # the worker's traceback, as concurrent.futures attaches it
